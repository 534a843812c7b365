import { test, expect } from "@playwright/test";
import { heartbeat } from "./agent";
import { signIn } from "./auth";
import { snap } from "./snap";

const suffix = () => Math.random().toString(36).slice(2, 8);

test("an operator drains the primary: dry run, the guard's second confirmation, the result and the history", async ({
  page,
}, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "/operations");
  const name = `ops-${suffix()}`;
  const created = await page.request.post("/api/v1/clusters", { data: { name, region: "eu-west-1", template: "staging" } });
  expect(created.status()).toBe(201);
  const cluster = (await created.json()).id as string;
  const ids: string[] = [];
  for (const n of ["op-1", "op-2", "op-3"]) {
    const r = await page.request.post(`/api/v1/clusters/${cluster}/nodes`, {
      data: { name: n, capacity_cpu: 4, capacity_memory_gb: 16, capacity_storage_gb: 100 },
    });
    expect(r.status()).toBe(201);
    const { node, node_token } = await r.json();
    ids.push(node.id as string);
    // Heartbeats, as agents send them: the nodes stay online for the test
    // (a node only ever reported by hand is judged silent since the server started).
    await heartbeat(page, node_token as string, 1, { cpu: 15, memory: 30, disk: 40 });
  }
  const primary = (await (await page.request.get(`/api/v1/clusters/${cluster}`)).json()).cluster.primary_node_id as string;

  // The node's page links to its operations; the form takes them from the address.
  await page.goto(`/clusters/${cluster}`);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await page.getByRole("table", { name: "Nodes" }).locator(`tr[data-node="${primary}"]`).getByRole("link").first().click();
  await expect(page).toHaveURL(`/nodes/${primary}`);
  await page.getByRole("navigation", { name: "Operations on this node" }).getByRole("link", { name: "Drain…" }).click();
  await expect(page).toHaveURL(new RegExp(`/operations\\?operation=drain&cluster_id=${cluster}&node_id=${primary}$`));
  await expect(page.getByRole("heading", { name: "Operations", level: 1 })).toBeVisible();
  await expect(page.getByLabel("Operation", { exact: true })).toHaveValue("drain");
  await expect(page.getByLabel("Node", { exact: true })).toHaveValue(primary);
  await page.getByLabel(/Why; recorded in the event log/).fill("kernel upgrade");

  // The dry run shows what would happen and does nothing.
  await page.getByRole("button", { name: "Preview (dry run)" }).click();
  const preview = page.locator('[data-step="preview"]');
  await expect(preview).toContainText("Dry run: nothing was done");
  await expect(preview.locator(".badge.guard")).toHaveText(["primary", "coordinator"]);
  await expect(preview).toContainText("would become primary (automatic failover)");
  await snap(page, testInfo, "operations-dry-run");

  // Running it stops at the guard; it goes ahead only after the explicit confirmation.
  await page.getByRole("button", { name: "Run", exact: true }).click();
  const guarded = page.locator('[data-step="guarded"]');
  await expect(guarded).toContainText("This operation is guarded");
  const anyway = guarded.getByRole("button", { name: "Run anyway (force)" });
  await expect(anyway).toBeDisabled();
  await guarded.getByLabel("I have read the impact and want to run it anyway").check();
  await anyway.click();
  const done = page.locator('[data-step="done"]');
  await expect(done).toContainText("succeeded");
  await expect(done).toContainText("is draining");

  // The history shows the run, forced, with its parameters.
  const history = page.getByRole("table", { name: "Operations history" });
  const row = history.locator("tbody tr").first();
  await expect(row).toContainText("Drain");
  await expect(row).toContainText("forced");
  await expect(row).toContainText("reason=kernel upgrade");
  await expect(row).toContainText("succeeded");
  await snap(page, testInfo, "operations");
  const after = (await (await page.request.get(`/api/v1/clusters/${cluster}`)).json()).cluster;
  expect(after.primary_node_id).not.toBe(primary);

  // A bad parameter is named under its field.
  await page.getByLabel("Operation", { exact: true }).selectOption("maintenance_on");
  await page.getByLabel("Node", { exact: true }).selectOption(ids.find((i) => i !== primary) ?? "");
  await page.getByRole("button", { name: "Run", exact: true }).click();
  await expect(page.locator(".field-error")).toContainText("params.reason is required");

  // The history filters by status.
  await page.getByLabel("Status").selectOption("succeeded");
  await expect(page).toHaveURL(/status=succeeded/);
  await expect(history.locator("tbody tr")).toHaveCount(1);
  expect(errors).toEqual([]);
});

test("a viewer reads the operations history but has no form to run one", async ({ page }) => {
  await signIn(page, "/");
  const username = `ops-viewer-${suffix()}`;
  const password = "viewer password one";
  const created = await page.request.post("/api/v1/users", { data: { username, password, role: "viewer", tenants: [] } });
  expect(created.status()).toBe(201);
  await page.request.post("/api/v1/auth/logout");
  await page.context().clearCookies();
  await signIn(page, "/operations", username, password);
  await expect(page.getByRole("heading", { name: "History" })).toBeVisible();
  await expect(page.getByRole("heading", { name: "Run an operation" })).toHaveCount(0);
  await expect(page.getByRole("button", { name: "Preview (dry run)" })).toHaveCount(0);
});
