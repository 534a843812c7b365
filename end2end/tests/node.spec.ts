import { test, expect } from "@playwright/test";
import { heartbeat } from "./agent";
import { signIn } from "./auth";
import { snap } from "./snap";

const suffix = () => Math.random().toString(36).slice(2, 8);

test("a node's page shows its host, charts, liveness and processes, and the process list searches a cluster", async ({
  page,
}, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "/clusters");
  const name = `node-page-${suffix()}`;
  const created = await page.request.post("/api/v1/clusters", {
    data: { name, region: "eu-west-1", template: "development" },
  });
  expect(created.status()).toBe(201);
  const cluster = (await created.json()).id as string;
  const added = await page.request.post(`/api/v1/clusters/${cluster}/nodes`, {
    data: { name: "db-1", capacity_cpu: 8, capacity_memory_gb: 32, capacity_storage_gb: 50, roles: ["coordinator"] },
  });
  expect(added.status()).toBe(201);
  const { node, node_token: token } = await added.json();
  const processes = [
    { pid: 812, name: "postgres", user: "postgres", cpu_percent: 35.5, memory_bytes: 734003200 },
    { pid: 77, name: "nginx", user: "www-data", cpu_percent: 2.0, memory_bytes: 20971520 },
    { pid: 1, name: "systemd", user: "root", cpu_percent: 0.1, memory_bytes: 12582912 },
  ];
  await heartbeat(page, token, 1, { cpu: 12.5 }, processes);

  // From the cluster page to the node's.
  await page.goto(`/clusters/${cluster}`);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await page.getByRole("table", { name: "Nodes" }).getByRole("link", { name: "db-1" }).click();
  await expect(page).toHaveURL(`/nodes/${node.id}`);
  await expect(page.getByRole("heading", { name: "db-1", level: 1 })).toBeVisible();
  await expect(page.getByTestId("node-status")).toHaveText("online");
  await expect(page.getByTestId("host-facts")).toContainText("db-host-1");
  await expect(page.getByTestId("host-facts")).toContainText("Debian GNU/Linux 12");
  await expect(page.getByTestId("host-facts")).toContainText("1 d 2 h");
  await expect(page.getByRole("list", { name: "Status changes" })).toContainText("online");
  const table = page.getByRole("table", { name: "Processes" });
  await expect(table.locator("tbody tr").first()).toContainText("postgres");
  await expect(table.locator("tbody tr")).toHaveCount(3);

  // Charts for every metric, from stored samples; the live stream moves them.
  const charts = page.locator("figure.chart");
  await expect(charts).toHaveCount(6);
  await expect(page.getByRole("img", { name: /^CPU: latest 12.5 %/ })).toBeVisible();
  await page.evaluate(() => ((window as any).__stillHere = true));
  await heartbeat(page, token, 2, { cpu: 77 }, processes);
  await expect(page.getByTestId("node-cpu")).toHaveText("77.0 %");
  await expect(page.getByRole("img", { name: /^CPU: latest 77.0 %/ })).toBeVisible();
  await page.getByRole("button", { name: "24 h" }).click();
  await expect(page.getByRole("button", { name: "24 h" })).toHaveAttribute("aria-pressed", "true");
  await expect(charts).toHaveCount(6);
  expect(await page.evaluate(() => (window as any).__stillHere)).toBe(true);
  await snap(page, testInfo, "node");

  // The cluster-wide list: pick the cluster, search, reorder; the address keeps it.
  await page.getByRole("link", { name: "Processes", exact: true }).click();
  await expect(page).toHaveURL("/processes");
  await expect(page.getByText("Pick a cluster to list its processes.")).toBeVisible();
  await page.getByLabel("Cluster").selectOption({ label: name });
  await expect(page).toHaveURL(new RegExp(`cluster_id=${cluster}`));
  const list = page.getByRole("table", { name: "Processes" });
  await expect(list.locator("tbody tr")).toHaveCount(3);
  await expect(list.locator("tbody tr").first()).toContainText("postgres");
  await page.getByLabel("Order").selectOption("name");
  await expect(list.locator("tbody tr").first()).toContainText("nginx");
  await page.getByLabel("Name or user").fill("www");
  await page.getByLabel("Name or user").press("Enter");
  await expect(list.locator("tbody tr")).toHaveCount(1);
  await expect(list.locator("tbody tr")).toContainText("db-1");
  await page.reload();
  await expect(page.getByLabel("Name or user")).toHaveValue("www");
  await expect(list.locator("tbody tr")).toHaveCount(1);
  await snap(page, testInfo, "processes");
  expect(errors).toEqual([]);
});
