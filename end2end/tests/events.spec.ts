import { test, expect } from "@playwright/test";
import { signIn } from "./auth";
import { snap } from "./snap";

const suffix = () => Math.random().toString(36).slice(2, 8);

test("the audit log filters by cluster, type, text and severity, pages, and exports what it shows", async ({
  page,
}, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "/events");
  const name = `audit-${suffix()}`;
  const created = await page.request.post("/api/v1/clusters", {
    data: { name, region: "eu-west-1", template: "development" },
  });
  expect(created.status()).toBe(201);
  const cluster = (await created.json()).id as string;
  for (const node of ["alpha", "beta"]) {
    const r = await page.request.post(`/api/v1/clusters/${cluster}/nodes`, {
      data: { name: `${name}-${node}`, capacity_cpu: 2, capacity_memory_gb: 4, capacity_storage_gb: 20 },
    });
    expect(r.status()).toBe(201);
  }

  await page.reload();
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await page.getByLabel("Cluster").selectOption({ label: name });
  await expect(page).toHaveURL(new RegExp(`cluster_id=${cluster}`));
  const rows = page.getByRole("table", { name: "Events" }).locator("tbody tr");
  await expect(rows).toHaveCount(3);
  await expect(rows.last()).toContainText("cluster_created");

  await page.getByLabel("Type").fill("node_added");
  await page.getByLabel("Type").press("Enter");
  await expect(page).toHaveURL(/type=node_added/);
  await expect(rows).toHaveCount(2);
  await page.getByLabel("Message").fill(`${name}-BETA`);
  await page.getByLabel("Message").press("Enter");
  await expect(rows).toHaveCount(1);
  await expect(rows).toContainText(`${name}-beta`);

  // The export carries the same filters, and the session signs it.
  const csvHref = (await page.getByRole("link", { name: "Export CSV" }).getAttribute("href")) ?? "";
  expect(csvHref).toContain(`cluster_id=${cluster}`);
  expect(csvHref).toContain("format=csv");
  const csv = await page.request.get(csvHref);
  expect(csv.status()).toBe(200);
  const lines = (await csv.text()).trim().split("\n");
  expect(lines).toHaveLength(2);
  expect(lines[1]).toContain(`${name}-beta`);
  const json = await page.request.get((await page.getByRole("link", { name: "Export JSON" }).getAttribute("href")) ?? "");
  expect((await json.json()).length).toBe(1);
  await snap(page, testInfo, "events");

  await page.getByLabel("Severity").selectOption("critical");
  await expect(page.getByText("No event matches.")).toBeVisible();
  await page.reload();
  await expect(page.getByLabel("Message")).toHaveValue(`${name}-BETA`);
  expect(errors).toEqual([]);
});
