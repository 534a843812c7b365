import { test, expect } from "@playwright/test";
import { signIn } from "./auth";
import { snap } from "./snap";

test("a signed-out visitor is sent to sign in, then back", async ({ page }, testInfo) => {
  const response = await page.goto("/");
  expect(response?.url()).toMatch(/\/login\?next=%2F$/);
  await expect(page.getByRole("heading", { name: "Sign in to Muster" })).toBeVisible();
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await snap(page, testInfo, "login");

  await page.getByLabel("Username").fill("admin");
  await page.getByLabel("Password").fill("not the password");
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page.getByRole("alert")).toContainText("invalid username or password");

  await signIn(page);
  await expect(page).toHaveURL(/\/$/);
  await expect(page.getByRole("heading", { name: "Fleet overview" })).toBeVisible();
  await expect(page.locator(".user")).toHaveText("admin");

  await page.getByRole("button", { name: "Sign out" }).click();
  await expect(page).toHaveURL(/\/login/);
  await page.goto("/");
  await expect(page).toHaveURL(/\/login\?next=%2F/);
});

test("the overview is rendered by the server, then hydrated", async ({ page }, testInfo) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });

  await signIn(page);
  const response = await page.goto("/");
  expect(response?.status()).toBe(200);
  await expect(page.getByRole("heading", { name: "Fleet overview" })).toBeVisible();
  // The built-in templates come from the database through a server function.
  const templates = page.getByRole("table").last();
  await expect(templates.getByRole("row")).toHaveCount(4);
  await expect(templates).toContainText("development");
  await expect(templates).toContainText("production");

  // Effects only run once the WASM has hydrated the page.
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await snap(page, testInfo, "overview");
  expect(errors).toEqual([]);
});

test("the theme toggle is driven by the WASM and remembered", async ({ page }, testInfo) => {
  await signIn(page);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  const html = page.locator("html");
  const toggle = page.getByRole("button", { name: /Colour theme/ });

  await expect(html).not.toHaveAttribute("data-theme", /.*/);
  await expect(toggle).toContainText("System");

  await toggle.click();
  await expect(html).toHaveAttribute("data-theme", "light");
  await expect(toggle).toContainText("Light");

  await toggle.click();
  await expect(html).toHaveAttribute("data-theme", "dark");
  const background = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  expect(background).toBe("rgb(15, 18, 22)");
  await snap(page, testInfo, "overview-dark");

  // The choice survives a reload and is applied before hydration.
  await page.reload();
  await expect(html).toHaveAttribute("data-theme", "dark");
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await expect(toggle).toContainText("Dark");

  await toggle.click();
  await expect(html).not.toHaveAttribute("data-theme", /.*/);
});

test("unknown pages answer 404 with a way back", async ({ page }, testInfo) => {
  await signIn(page);
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await snap(page, testInfo, "not-found");
  await page.getByRole("link", { name: "Back to the overview" }).click();
  await expect(page.getByRole("heading", { name: "Fleet overview" })).toBeVisible();
});
