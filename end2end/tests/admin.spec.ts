import { test, expect } from "@playwright/test";
import { signIn } from "./auth";
import { snap } from "./snap";

const suffix = () => Math.random().toString(36).slice(2, 8);

test("an admin manages tenants, users and API tokens in the dashboard", async ({ page, request }, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));

  await signIn(page, "/admin/tenants");
  await expect(page.getByRole("heading", { name: "Tenants" })).toBeVisible();
  const tenant = `E2E Tenant ${suffix()}`;
  await page.getByLabel("Name", { exact: true }).fill(tenant);
  await page.getByRole("button", { name: "Add tenant" }).click();
  await expect(page.getByRole("main").getByRole("status")).toContainText(`Created tenant ${tenant}.`);
  await expect(page.getByRole("table", { name: "Tenants" })).toContainText(tenant);
  await snap(page, testInfo, "admin-tenants");

  await page.getByRole("link", { name: "Users" }).click();
  await expect(page.getByRole("heading", { name: "Users" })).toBeVisible();
  const users = page.getByRole("table", { name: "Users" });
  await expect(users.locator('tr[data-user="admin"]')).toBeVisible();
  await snap(page, testInfo, "admin-users");

  // The server's rules come back next to the field they concern.
  const username = `e2e-${suffix()}`;
  const form = page.locator("form.panel-form");
  await form.getByLabel("Username").fill(username);
  await form.getByLabel(/^Password/).fill("short");
  await form.getByRole("button", { name: "Add user" }).click();
  await expect(form.locator(".field-error")).toContainText("password");

  await form.getByLabel(/^Password/).fill("a long enough password");
  await form.getByLabel(tenant).check();
  await form.getByRole("button", { name: "Add user" }).click();
  await expect(page.getByRole("main").getByRole("status").filter({ hasText: "Created" })).toContainText(
    `Created ${username} (viewer).`,
  );
  const row = users.locator(`tr[data-user="${username}"]`);
  await expect(row).toContainText(tenant);
  await expect(row).toContainText("active");

  await row.getByLabel(`Role of ${username}`).selectOption("operator");
  await expect(page.getByRole("main").getByRole("status").first()).toContainText(`Saved ${username}.`);
  await expect(row.getByLabel(`Role of ${username}`)).toHaveValue("operator");

  await row.getByRole("button", { name: "Disable" }).click();
  await expect(row).toContainText("disabled");
  await row.getByRole("button", { name: "Enable" }).click();
  await expect(row).toContainText("active");

  await row.getByText("Reset password").click();
  await row.getByLabel("New password").fill("a brand new password");
  await row.getByRole("button", { name: "Set password" }).click();
  await expect(page.getByRole("main").getByRole("status").first()).toContainText("Password set");

  // The user signs in with the new password (in a context of its own, so
  // the page stays the admin's).
  const login = await request.post("/api/v1/auth/login", {
    data: { username, password: "a brand new password" },
  });
  expect(login.status()).toBe(200);
  await page.goto("/admin/tokens");
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");

  // A token is shown once, works, and stops working when revoked.
  await expect(page.getByRole("heading", { name: "API tokens" })).toBeVisible();
  await page.getByLabel("Name", { exact: true }).fill("e2e script");
  await page.getByRole("button", { name: "Create token" }).click();
  const secret = page.locator("[data-token]");
  await expect(secret).toHaveText(/^mst_/);
  const token = (await secret.textContent()) ?? "";
  const me = (t: string) =>
    page.request.get("/api/v1/auth/me", { headers: { authorization: `Bearer ${t}` } });
  expect((await me(token)).status()).toBe(200);
  const tokenRow = page.locator('tr[data-token-name="e2e script"]');
  await expect(tokenRow).toContainText("active");
  await tokenRow.getByRole("button", { name: "Revoke e2e script" }).click();
  await expect(tokenRow).toContainText("revoked");
  expect((await me(token)).status()).toBe(401);
  await snap(page, testInfo, "admin-tokens");

  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Templates" }).click();
  await expect(page).toHaveURL(/\/admin\/templates$/);
  await expect(page.getByRole("table").first()).toContainText("production");
  await snap(page, testInfo, "admin-templates");
  expect(errors).toEqual([]);
});

test("a viewer sees no admin pages but manages their own tokens", async ({ page }) => {
  await signIn(page, "/");
  const username = `e2e-viewer-${suffix()}`;
  const created = await page.request.post("/api/v1/users", {
    data: { username, password: "a viewer password", role: "viewer" },
  });
  expect(created.status()).toBe(201);
  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);

  await signIn(page, "/admin/tokens", username, "a viewer password");
  await expect(page.locator(".user")).toHaveText(username);
  const nav = page.getByRole("navigation", { name: "Main" });
  await expect(nav.getByRole("link", { name: "Overview" })).toBeVisible();
  await expect(nav.getByRole("link", { name: "Users" })).toHaveCount(0);
  // The page's code may still be loading (a lazy route in a release build)
  // while the sign-in form, whose "Username" would match "Name", is shown.
  await expect(page.getByRole("heading", { name: "API tokens" })).toBeVisible();
  await page.getByLabel("Name", { exact: true }).fill("viewer script");
  await page.getByRole("button", { name: "Create token" }).click();
  await expect(page.locator("[data-token]")).toHaveText(/^mst_/);

  await page.goto("/admin/users");
  await expect(page.getByRole("alert")).toContainText("this needs the admin role; you are viewer");
  await expect(page.getByRole("table", { name: "Users" })).toHaveCount(0);
});
