import { test, expect } from "@playwright/test";

test("the overview is rendered by the server, then hydrated", async ({ page }) => {
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });

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
  expect(errors).toEqual([]);
});

test("the theme toggle is driven by the WASM and remembered", async ({ page }) => {
  await page.goto("/");
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

  // The choice survives a reload and is applied before hydration.
  await page.reload();
  await expect(html).toHaveAttribute("data-theme", "dark");
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await expect(toggle).toContainText("Dark");

  await toggle.click();
  await expect(html).not.toHaveAttribute("data-theme", /.*/);
});

test("unknown pages answer 404 with a way back", async ({ page }) => {
  const response = await page.goto("/no/such/page");
  expect(response?.status()).toBe(404);
  await expect(page.getByRole("heading", { name: "Page not found" })).toBeVisible();
  await page.getByRole("link", { name: "Back to the overview" }).click();
  await expect(page.getByRole("heading", { name: "Fleet overview" })).toBeVisible();
});
