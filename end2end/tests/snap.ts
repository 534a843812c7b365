import { Page, TestInfo } from "@playwright/test";

/// Saves a screenshot of the page as this test's artifact
/// (`test-results/<test>/<name>.png`) and attaches it to the report.
export async function snap(page: Page, testInfo: TestInfo, name: string, fullPage = true): Promise<void> {
  const path = testInfo.outputPath(`${name}.png`);
  await page.screenshot({ path, fullPage });
  await testInfo.attach(name, { path, contentType: "image/png" });
}
