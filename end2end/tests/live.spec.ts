import { test, expect } from "@playwright/test";
import { heartbeat } from "./agent";
import { signIn } from "./auth";

const suffix = () => Math.random().toString(36).slice(2, 8);

test("a node's status change shows on the cluster page without a reload", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "/");
  await expect(page.locator(".live-indicator")).toHaveAttribute("data-state", "live");

  // The page's own cookie jar: the API calls are the admin's.
  const name = `live-${suffix()}`;
  const created = await page.request.post("/api/v1/clusters", {
    data: { name, region: "eu-west-1", template: "staging" },
  });
  expect(created.status()).toBe(201);
  const cluster = await created.json();

  // A new cluster appears on the open overview.
  const row = page.locator(`tr[data-cluster="${cluster.id}"]`);
  await expect(row).toContainText(name);

  const added = await page.request.post(`/api/v1/clusters/${cluster.id}/nodes`, {
    data: { name: "edge-1", capacity_cpu: 2, capacity_memory_gb: 4, capacity_storage_gb: 10 },
  });
  expect(added.status()).toBe(201);
  const { node, node_token: token } = await added.json();

  await row.getByRole("link", { name }).click();
  await expect(page).toHaveURL(`/clusters/${cluster.id}`);
  const status = page.locator(`tr[data-node="${node.id}"] [data-testid="node-status"]`);
  await expect(status).toHaveText(node.status);
  await expect(page.locator(".live-indicator")).toHaveAttribute("data-state", "live");

  // Anything set on the window survives only if the page is not reloaded.
  await page.evaluate(() => ((window as any).__stillHere = true));
  await heartbeat(page, token, 1, { cpu: 37.5, memory: 20, disk: 30 });
  await expect(status).toHaveText("online");
  await expect(page.locator(`tr[data-node="${node.id}"]`)).toContainText("37.5 %");
  await expect(page.getByRole("list", { name: "Recent events" })).toContainText("node_status_changed");

  const maintenance = await page.request.post(`/api/v1/nodes/${node.id}/status`, {
    data: { status: "maintenance" },
  });
  expect(maintenance.status()).toBe(200);
  await expect(status).toHaveText("maintenance");
  expect(await page.evaluate(() => (window as any).__stillHere)).toBe(true);
  await expect(page.locator(".stale-notice")).toHaveCount(0);
  expect(errors).toEqual([]);
});

test("a lost connection marks the data stale, then reconnects", async ({ page }) => {
  // Every live connection goes through here, so the test can cut it and
  // refuse new ones for a while.
  let refusing = false;
  let current: { close: (o: { code: number; reason: string }) => Promise<void> } | null = null;
  await page.routeWebSocket(/\/api\/v1\/live/, (ws) => {
    if (refusing) {
      ws.close({ code: 1013, reason: "test outage" });
      return;
    }
    ws.connectToServer();
    current = ws;
  });
  await signIn(page, "/");
  const indicator = page.locator(".live-indicator");
  await expect(indicator).toHaveAttribute("data-state", "live");
  await expect(page.locator(".stale-notice")).toHaveCount(0);

  refusing = true;
  await current!.close({ code: 1012, reason: "test outage" });
  await expect(indicator).toHaveAttribute("data-state", /reconnecting|connecting/);
  await expect(page.locator(".stale-notice")).toContainText("may be out of date");
  await expect(page.locator(".live-data.stale")).toHaveCount(1);
  // The clusters shown before stay on the page.
  await expect(page.getByRole("heading", { name: "Clusters" })).toBeVisible();

  refusing = false;
  await expect(indicator).toHaveAttribute("data-state", "live", { timeout: 20_000 });
  await expect(page.locator(".stale-notice")).toHaveCount(0);
});
