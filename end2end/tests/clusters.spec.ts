import { test, expect } from "@playwright/test";
import { heartbeat } from "./agent";
import { signIn } from "./auth";
import { snap } from "./snap";

const suffix = () => Math.random().toString(36).slice(2, 8);

test("an admin creates a cluster from a template and finds it in the list", async ({ page }, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "/clusters");
  await expect(page.getByRole("heading", { name: "Clusters", level: 1 })).toBeVisible();

  await page.getByRole("button", { name: "New cluster" }).click();
  const dialog = page.getByRole("dialog", { name: "New cluster" });
  await expect(dialog).toBeVisible();
  await expect(dialog.getByLabel("Name")).toBeFocused();

  // Nothing picked yet: the dialog says what is missing without asking the server.
  await dialog.getByRole("button", { name: "Create cluster" }).click();
  await expect(dialog).toContainText("template: pick one");

  // A template fills the limits; the domain's rules judge what is typed.
  await dialog.getByRole("radio", { name: /^production/ }).check();
  await expect(dialog.getByLabel("Max nodes")).not.toHaveValue("");
  await dialog.getByLabel("Max nodes").fill("lots");
  await expect(dialog.locator("#new-cluster-max_nodes-error")).toHaveText("max_nodes must be a whole number");
  await dialog.getByLabel("Max nodes").fill("12");
  await expect(dialog.locator("#new-cluster-max_nodes-error")).toHaveText("");
  await dialog.getByLabel("Heartbeat interval (s)").fill("1");
  await expect(dialog.locator("#new-cluster-health_check_interval_s-error")).not.toHaveText("");
  await dialog.getByLabel("Heartbeat interval (s)").fill("15");
  await snap(page, testInfo, "create-cluster-dialog", false);

  const name = `ui-${suffix()}`;
  await dialog.getByLabel("Name").fill(name);
  await dialog.getByLabel("Region").fill("eu-central-1");
  await dialog.getByRole("button", { name: "Create cluster" }).click();
  await expect(page).toHaveURL(/\/clusters\/cluster-/);
  await expect(page.getByRole("heading", { name, level: 1 })).toBeVisible();
  const id = page.url().split("/").pop() ?? "";

  // The list finds it by name, and the search is in the address.
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Clusters" }).click();
  await page.getByRole("searchbox").fill(name);
  await expect(page).toHaveURL(new RegExp(`q=${name}`));
  const rows = page.getByRole("table", { name: "Clusters" }).locator("tbody tr");
  await expect(rows).toHaveCount(1);
  const row = page.locator(`tr[data-cluster="${id}"]`);
  await expect(row).toContainText("production");
  await expect(row.getByTestId("nodes-online")).toHaveText("0 / 0");
  await expect(row).toContainText("no nodes");

  // A node coming online shows in the row without a reload.
  await page.evaluate(() => ((window as any).__stillHere = true));
  const added = await page.request.post(`/api/v1/clusters/${id}/nodes`, {
    data: { name: "db-1", capacity_cpu: 4, capacity_memory_gb: 16, capacity_storage_gb: 100 },
  });
  expect(added.status()).toBe(201);
  // Its agent reports (a heartbeat, so the liveness sweep keeps it online).
  await heartbeat(page, (await added.json()).node_token, 1, { cpu: 10, memory: 20, disk: 30 });
  await expect(row.getByTestId("nodes-online")).toHaveText("1 / 1");
  await expect(row).toContainText("db-1");
  await expect(row.getByTestId("cluster-status")).toHaveText("active");
  expect(await page.evaluate(() => (window as any).__stillHere)).toBe(true);

  // A search that matches nothing says so; the address keeps the view on reload.
  await page.getByRole("searchbox").fill(`${name}-nothing`);
  await expect(page.getByText("No cluster matches.")).toBeVisible();
  await expect(page).toHaveURL(new RegExp(`q=${name}-nothing`));
  await page.reload();
  await expect(page.getByRole("searchbox")).toHaveValue(`${name}-nothing`);
  await page.getByLabel("Status").selectOption("active");
  await expect(page).toHaveURL(/status=active/);
  await snap(page, testInfo, "clusters");
  expect(errors).toEqual([]);
});

test("a tenant's viewer sees only the tenant's clusters and no way to create one", async ({ page, browser }) => {
  await signIn(page, "/clusters");
  const tag = suffix();
  const make = async (name: string) => {
    const r = await page.request.post("/api/v1/clusters", {
      data: { name, region: "us-east-1", template: "development" },
    });
    expect(r.status()).toBe(201);
    return (await r.json()).id as string;
  };
  const mine = await make(`tenant-${tag}-mine`);
  const theirs = await make(`tenant-${tag}-theirs`);
  const tenant = await page.request.post("/api/v1/tenants", { data: { name: `Tenant ${tag}` } });
  expect(tenant.status()).toBe(201);
  const tenantId = (await tenant.json()).id;
  expect((await page.request.post(`/api/v1/clusters/${mine}/tenants`, { data: { tenant_id: tenantId } })).status()).toBe(
    201,
  );
  const username = `viewer-${tag}`;
  const password = "a viewer's long password";
  const user = await page.request.post("/api/v1/users", {
    data: { username, password, role: "viewer", tenants: [tenantId] },
  });
  expect(user.status()).toBe(201);

  const context = await browser.newContext();
  const viewer = await context.newPage();
  await signIn(viewer, `/clusters?q=tenant-${tag}`, username, password);
  const table = viewer.getByRole("table", { name: "Clusters" });
  await expect(table.locator(`tr[data-cluster="${mine}"]`)).toContainText(`Tenant ${tag}`);
  await expect(table.locator(`tr[data-cluster="${theirs}"]`)).toHaveCount(0);
  await expect(table.locator("tbody tr")).toHaveCount(1);
  await expect(viewer.getByRole("button", { name: "New cluster" })).toHaveCount(0);
  await context.close();
});
