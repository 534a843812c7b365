import { test, expect, Page } from "@playwright/test";
import { heartbeat } from "./agent";
import { signIn } from "./auth";

const suffix = () => Math.random().toString(36).slice(2, 8);

/// Errors the browser reports while a page loads and hydrates.
function watchErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  return errors;
}

// Every page opened by its address (rendered on the server, then hydrated)
// must come alive without a hydration error, as it does when reached by a
// link. A resource made inside a view that waits is made again each time the
// server renders that view, and the browser then reads another one's value.
test("every page hydrates when opened by its address", async ({ page }) => {
  await signIn(page, "/");
  const name = `direct-${suffix()}`;
  const created = await page.request.post("/api/v1/clusters", {
    data: { name, region: "eu-west-1", template: "development" },
  });
  expect(created.status()).toBe(201);
  const cluster = (await created.json()).id as string;
  const added = await page.request.post(`/api/v1/clusters/${cluster}/nodes`, {
    data: { name: "web-1", capacity_cpu: 4, capacity_memory_gb: 16, capacity_storage_gb: 100 },
  });
  expect(added.status()).toBe(201);
  const { node, node_token: token } = await added.json();
  await heartbeat(page, token, 1, { cpu: 33 }, [
    { pid: 10, name: "nginx", user: "www-data", cpu_percent: 1.5, memory_bytes: 20971520 },
  ]);

  const pages = [
    "/",
    "/clusters",
    `/clusters/${cluster}`,
    `/nodes/${node.id}`,
    `/processes?cluster_id=${cluster}`,
    `/events?cluster_id=${cluster}`,
    "/operations",
    `/operations?operation=drain&cluster_id=${cluster}&node_id=${node.id}`,
    "/admin/users",
    "/admin/tenants",
    "/admin/templates",
    "/admin/tokens",
  ];
  for (const path of pages) {
    const errors = watchErrors(page);
    await page.goto(path);
    await expect(page.locator(".app"), path).toHaveAttribute("data-hydrated", "true");
    await expect(page.locator(".error-panel"), path).toHaveCount(0);
    expect(errors, path).toEqual([]);
    page.removeAllListeners("pageerror");
    page.removeAllListeners("console");
  }

  // The node page's charts came from the server and answer clicks.
  await page.goto(`/nodes/${node.id}`);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await expect(page.locator("figure.chart")).toHaveCount(6);
  await expect(page.getByRole("img", { name: /^CPU: latest 33.0 %/ })).toBeVisible();
  await page.getByRole("button", { name: "15 min" }).click();
  await expect(page.getByRole("button", { name: "15 min" })).toHaveAttribute("aria-pressed", "true");
  await expect(page.locator("figure.chart")).toHaveCount(6);

  // The operations form, opened by its address, has its node chosen and
  // previews a dry run.
  await page.goto(`/operations?operation=cordon&cluster_id=${cluster}&node_id=${node.id}`);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await expect(page.locator("#op-node")).toHaveValue(node.id);
  await page.getByRole("button", { name: "Preview (dry run)" }).click();
  await expect(page.locator('[data-step="preview"]')).toContainText("Dry run: nothing was done");
});
