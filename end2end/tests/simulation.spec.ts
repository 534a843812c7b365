import { test, expect } from "@playwright/test";
import { signIn } from "./auth";
import { snap } from "./snap";

// scripts/test starts its server with --demo: three demo clusters kept alive
// by a simulated fleet in the server's process.
test("an admin fails a demo primary from the Simulation page and watches the cluster fail over", async ({
  page,
}, testInfo) => {
  test.setTimeout(90_000);
  const errors: string[] = [];
  page.on("pageerror", (e) => errors.push(e.message));
  await signIn(page, "/");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Simulation" }).click();
  await expect(page).toHaveURL(/\/simulation$/);
  await expect(page.getByRole("heading", { name: "Simulation", level: 1 })).toBeVisible();
  await expect(page.getByTestId("sim-cluster")).toHaveCount(3);

  const production = page.getByRole("region", { name: "Cluster demo-production" });
  const rows = production.getByTestId("sim-node");
  await expect(rows).toHaveCount(6);
  // Every node online and a primary known before the fault.
  await expect(production.getByTestId("node-status").filter({ hasText: "online" })).toHaveCount(6, {
    timeout: 30_000,
  });
  await expect(production.getByTestId("sim-primary")).not.toHaveText("none", { timeout: 20_000 });
  const primary = (await production.getByTestId("sim-primary").textContent()) ?? "";
  const term = Number(await production.getByTestId("sim-term").textContent());

  // A command the simulator does not know is refused with the reason.
  await page.getByLabel("Command").fill("explode all");
  await page.getByRole("button", { name: "Run" }).click();
  await expect(page.getByTestId("sim-result")).toContainText("unknown action");

  await production.getByRole("button", { name: "Fail the primary" }).click();
  await expect(page.getByTestId("sim-result")).toHaveText(`fail primary:demo-production: ${primary}`);
  const victim = production.locator(`tr[data-node="${primary}"]`);
  await expect(victim.getByTestId("sim-faults")).toHaveText("fail");
  // Two intervals (5 s each) and 5 s of silence: unreachable, and a new primary
  // with the next term.
  await expect(victim.getByTestId("node-status")).toHaveText("unreachable", { timeout: 30_000 });
  await expect(production.getByTestId("sim-term")).toHaveText(String(term + 1), { timeout: 10_000 });
  await expect(production.getByTestId("sim-primary")).not.toHaveText(primary);
  await snap(page, testInfo, "simulation");

  // Healing brings the node back online.
  await production.getByRole("button", { name: "Heal the cluster" }).click();
  await expect(victim.getByTestId("sim-faults")).toHaveText("none");
  await expect(victim.getByTestId("node-status")).toHaveText("online", { timeout: 20_000 });
  expect(errors).toEqual([]);
});
