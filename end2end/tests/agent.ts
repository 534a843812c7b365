import { expect, Page } from "@playwright/test";

/// The usage figures a heartbeat reports; the rest are fixed.
export interface Usage {
  cpu?: number;
  memory?: number;
  disk?: number;
}

/// One heartbeat as an agent sends it, authenticated by the node's token.
export async function heartbeat(page: Page, token: string, seq: number, usage: Usage, processes: object[] = []) {
  const r = await page.request.post("/api/v1/agent/heartbeat", {
    headers: { Authorization: `Bearer ${token}` },
    data: {
      protocol_version: 1,
      seq,
      status: "online",
      metrics: {
        cpu_usage_percent: usage.cpu ?? 10,
        memory_usage_percent: usage.memory ?? 41.5,
        disk_usage_percent: usage.disk ?? 63,
        load_average: 0.7,
        network_rx_mbps: 1.2,
        network_tx_mbps: 0.4,
        process_count: 212,
      },
      system: {
        hostname: "db-host-1",
        os: "Debian GNU/Linux 12",
        kernel: "6.1.0",
        uptime_s: 93784,
        cpu_cores: 8,
        memory_total_gb: 31.2,
        disk_total_gb: 480,
      },
      processes,
    },
  });
  expect(r.status()).toBe(200);
}
