import { test, expect, Page } from "@playwright/test";
import { heartbeat } from "./agent";
import { signIn } from "./auth";
import { snap } from "./snap";

const suffix = () => Math.random().toString(36).slice(2, 8);

async function report(page: Page, nodeId: string, data: object) {
  const r = await page.request.post(`/api/v1/nodes/${nodeId}/status`, { data });
  expect(r.status()).toBe(200);
}

test("an admin runs a cluster from its page: nodes, health, failover, configuration, tenants, join tokens", async ({
  page,
}, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "/clusters");
  const name = `page-${suffix()}`;
  const created = await page.request.post("/api/v1/clusters", {
    data: { name, region: "eu-west-1", template: "staging" },
  });
  expect(created.status()).toBe(201);
  const id = (await created.json()).id as string;
  await page.goto(`/clusters/${id}`);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
  await expect(page.locator(".live-indicator")).toHaveAttribute("data-state", "live");
  await expect(page.getByTestId("no-candidates")).toBeVisible();
  await expect(page.getByRole("navigation", { name: "Operations on this cluster" }).getByRole("link")).toHaveText([
    "Operations history",
    "Set the coordinator…",
    "Apply a template…",
  ]);

  // Add a node by hand: the form checks as it goes, the token is shown once.
  await page.getByRole("button", { name: "Add node" }).click();
  const form = page.getByRole("form", { name: "Add a node" });
  await form.getByLabel("CPU cores").fill("many");
  await form.getByLabel("Name", { exact: true }).fill("db-1");
  await form.getByRole("button", { name: "Add node" }).click();
  await expect(form.locator("#add-node-capacity_cpu-error")).toHaveText("capacity_cpu must be a number");
  await form.getByLabel("CPU cores").fill("8");
  await form.getByRole("button", { name: "Add node" }).click();
  await expect(form.getByTestId("node-token")).toContainText("mnt_");
  const db1Token = (await form.getByTestId("node-token").textContent()) ?? "";
  await expect(form).toContainText("muster-agent run --server");
  const nodes = page.getByRole("table", { name: "Nodes" });
  await expect(nodes.locator("tbody tr")).toHaveCount(1);
  const db1 = (await nodes.locator("tbody tr").first().getAttribute("data-node")) ?? "";

  const second = await page.request.post(`/api/v1/clusters/${id}/nodes`, {
    data: { name: "db-2", capacity_cpu: 8, capacity_memory_gb: 32, capacity_storage_gb: 200 },
  });
  expect(second.status()).toBe(201);
  const { node: secondNode, node_token: db2Token } = await second.json();
  const db2 = secondNode.id as string;

  // Both report: one is short of memory. Health, the plan and the topology follow live.
  await heartbeat(page, db1Token, 1, { cpu: 20, memory: 30, disk: 40 });
  await heartbeat(page, db2Token, 1, { cpu: 20, memory: 88, disk: 40 });
  const topology = page.getByRole("list", { name: "Nodes by health" });
  await expect(topology.getByRole("link")).toHaveCount(2);
  await expect(topology.getByRole("link", { name: /db-2, online, health warning/ })).toBeVisible();
  await expect(page.getByTestId("breakdown-healthy")).toHaveText("1");
  await expect(page.getByTestId("breakdown-warning")).toHaveText("1");
  const advice = page.getByRole("list", { name: "Recommendations" });
  await expect(advice).toContainText("high memory usage");
  await expect(advice.getByRole("link", { name: "db-2" })).toHaveAttribute("href", `/nodes/${db2}`);
  await expect(page.getByTestId("cluster-online")).toHaveText("2 / 2");
  await expect(page.getByTestId("cluster-primary")).toHaveText("db-1");

  // What if the primary fails, before anyone acts.
  await page.getByLabel("What if this node fails?").selectOption({ label: "db-1" });
  await expect(page.getByTestId("what-if")).toContainText("db-2");

  // Promote the second candidate; the term moves on.
  const candidates = page.getByRole("list", { name: "Failover candidates" });
  const term = Number(await page.getByTestId("cluster-term").textContent());
  await candidates.locator(`li[data-node="${db2}"]`).getByRole("button", { name: "Make primary" }).click();
  await expect(page.getByTestId("cluster-primary")).toHaveText("db-2");
  await expect(page.getByTestId("cluster-term")).toHaveText(String(term + 1));

  // A node that never reported may not lead: forcing it asks first.
  const third = await page.request.post(`/api/v1/clusters/${id}/nodes`, {
    data: { name: "db-3", capacity_cpu: 2, capacity_memory_gb: 4, capacity_storage_gb: 20 },
  });
  expect(third.status()).toBe(201);
  const excluded = page.getByRole("list", { name: "Nodes that may not lead" });
  await excluded.getByRole("button", { name: "Force promote…" }).click();
  await expect(excluded).toContainText("db-3 is not a candidate. Promote it anyway?");
  await excluded.getByRole("button", { name: "Cancel" }).click();
  await expect(excluded.getByRole("button", { name: "Promote anyway" })).toHaveCount(0);
  await expect(page.getByTestId("partition-banner")).toContainText("Partial partition: 2 of 3");

  // Edit the configuration: the domain's limits show while typing.
  const config = page.locator("#configuration");
  await config.getByRole("button", { name: "Edit" }).click();
  await config.getByLabel("Heartbeat interval (s)").fill("2");
  await config.getByLabel("Heartbeat interval (s)").blur();
  await expect(config.locator("#settings-health_check_interval_s-error")).toHaveText(
    "health_check_interval_s must be between 5 and 3600",
  );
  await config.getByLabel("Heartbeat interval (s)").fill("20");
  await config.getByRole("button", { name: "Save" }).click();
  await expect(config.getByTestId("config-interval")).toHaveText("20 s");

  // Host a tenant.
  const tenantName = `Tenant ${suffix()}`;
  const tenant = await page.request.post("/api/v1/tenants", { data: { name: tenantName } });
  expect(tenant.status()).toBe(201);
  await page.reload();
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await page.getByLabel("Host a tenant", { exact: true }).selectOption({ label: tenantName });
  await page.getByRole("button", { name: "Host", exact: true }).click();
  await expect(page.getByRole("list", { name: "Hosted tenants" })).toContainText(tenantName);

  // A join token: its secret once, then revoked.
  const tokens = page.locator("#join-tokens");
  await tokens.getByLabel("What it is for").fill("rack 4");
  await tokens.getByLabel("Expires in hours (empty: never)").fill("48");
  await tokens.getByRole("button", { name: "Create join token" }).click();
  await expect(tokens.getByTestId("join-token-secret")).toContainText("mjt_");
  const row = tokens.getByRole("table", { name: "Join tokens" }).locator("tbody tr", { hasText: "rack 4" });
  await expect(row).toContainText("until");
  await row.getByRole("button", { name: "Revoke" }).click();
  await expect(row).toContainText("revoked");

  // One node goes away: the partition shows, and the events say so.
  await report(page, db1, { status: "offline" });
  await expect(page.getByTestId("partition-banner")).toContainText("Minority partition: only 1 of 3");
  await expect(page.getByRole("list", { name: "Recent events" })).toContainText("node_status_changed");
  await snap(page, testInfo, "cluster");
  expect(errors).toEqual([]);
});

test("a viewer reads a cluster's page without any control that changes it", async ({ page, browser }, testInfo) => {
  await signIn(page, "/clusters");
  const tag = suffix();
  const created = await page.request.post("/api/v1/clusters", {
    data: { name: `readonly-${tag}`, region: "us-east-1", template: "production" },
  });
  expect(created.status()).toBe(201);
  const id = (await created.json()).id as string;
  const added = await page.request.post(`/api/v1/clusters/${id}/nodes`, {
    data: { name: "app-1", capacity_cpu: 4, capacity_memory_gb: 8, capacity_storage_gb: 50 },
  });
  expect(added.status()).toBe(201);
  await heartbeat(page, (await added.json()).node_token, 1, { cpu: 10, memory: 10, disk: 10 });
  const username = `reader-${tag}`;
  const password = "a reader's long password";
  const user = await page.request.post("/api/v1/users", { data: { username, password, role: "viewer", tenants: [] } });
  expect(user.status()).toBe(201);

  const context = await browser.newContext();
  const viewer = await context.newPage();
  await signIn(viewer, `/clusters/${id}`, username, password);
  await expect(viewer.getByRole("heading", { name: `readonly-${tag}`, level: 1 })).toBeVisible();
  await expect(viewer.getByRole("list", { name: "Nodes by health" })).toContainText("app-1");
  await expect(viewer.getByTestId("configuration")).toBeVisible();
  for (const control of ["Add node", "Edit", "Make primary", "Decommission cluster…", "Create join token"]) {
    await expect(viewer.getByRole("button", { name: control })).toHaveCount(0);
  }
  await expect(viewer.locator("#join-tokens")).toHaveCount(0);
  // The viewer may read the cluster's operations history, and run none.
  const operations = viewer.getByRole("navigation", { name: "Operations on this cluster" });
  await expect(operations.getByRole("link")).toHaveText(["Operations history"]);
  await operations.getByRole("link", { name: "Operations history" }).click();
  await expect(viewer).toHaveURL(`/operations?cluster_id=${id}`);
  await expect(viewer.getByText("No operation has run here yet.")).toBeVisible();
  await expect(viewer.getByRole("button", { name: "Preview (dry run)" })).toHaveCount(0);
  await viewer.goBack();
  await snap(viewer, testInfo, "cluster-as-viewer");
  await context.close();
});

test("a cluster's charts combine its nodes' samples", async ({ page }, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "/clusters");
  const created = await page.request.post("/api/v1/clusters", {
    data: { name: `charts-${suffix()}`, region: "eu-west-1", template: "development" },
  });
  expect(created.status()).toBe(201);
  const id = (await created.json()).id as string;
  const minute = () => Math.floor(Date.now() / 60000);
  const first = minute();
  for (const [name, cpu] of [
    ["web-1", 20],
    ["web-2", 60],
  ] as const) {
    const added = await page.request.post(`/api/v1/clusters/${id}/nodes`, {
      data: { name, capacity_cpu: 4, capacity_memory_gb: 8, capacity_storage_gb: 50 },
    });
    expect(added.status()).toBe(201);
    await heartbeat(page, (await added.json()).node_token, 1, { cpu });
  }
  // Both samples in one minute make one point, their mean; a minute's edge
  // between them makes two, the later one last.
  const latest = minute() === first ? "40.0" : "60.0";

  await page.goto(`/clusters/${id}`);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  const panel = page.locator("#metrics");
  await expect(panel.getByRole("heading", { name: "Metrics across nodes" })).toBeVisible();
  await expect(panel.locator("figure.chart")).toHaveCount(6);
  await expect(
    panel.getByRole("img", { name: new RegExp(`^CPU: latest ${latest} %, between 20.0 % and 60.0 %`) }),
  ).toBeVisible();
  await panel.scrollIntoViewIfNeeded();
  await snap(page, testInfo, "cluster-metrics", false);
  // A week is read per hour: the same samples, one bucket.
  await panel.getByRole("button", { name: "7 d" }).click();
  await expect(panel.getByRole("button", { name: "7 d" })).toHaveAttribute("aria-pressed", "true");
  await expect(panel.getByRole("img", { name: /^CPU: latest \d+\.\d %, between 20.0 % and 60.0 %/ })).toBeVisible();
  expect(errors).toEqual([]);
});
