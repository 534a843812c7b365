import { expect, Page } from "@playwright/test";

/// The first admin's password, which scripts/test starts the server with.
export const ADMIN_PASSWORD = process.env.MUSTER_E2E_PASSWORD ?? "";

/// Signs in through the sign-in page, starting from `path`, and waits for the
/// WASM to be live on the page it returns to.
export async function signIn(
  page: Page,
  path = "/",
  username = "admin",
  password = ADMIN_PASSWORD,
): Promise<void> {
  await page.goto(path);
  await expect(page).toHaveURL(/\/login\?next=/);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
  await page.getByLabel("Username").fill(username);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Sign in" }).click();
  await expect(page).not.toHaveURL(/\/login/);
  await expect(page.locator(".app")).toHaveAttribute("data-hydrated", "true");
}
