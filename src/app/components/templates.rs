//! The environment templates as a table.

use leptos::prelude::*;
use muster_domain::ConfigTemplate;

#[component]
pub fn TemplateTable(templates: Vec<ConfigTemplate>) -> impl IntoView {
    let yes_no = |b: bool| if b { "yes" } else { "no" };
    view! {
        <div class="table-wrap">
            <table>
                <thead>
                    <tr>
                        <th scope="col">"Template"</th>
                        <th scope="col" class="num">"Max nodes"</th>
                        <th scope="col" class="num">"Max tenants"</th>
                        <th scope="col" class="num">"Storage (GB)"</th>
                        <th scope="col" class="num">"Retention (days)"</th>
                        <th scope="col" class="num">"Health check (s)"</th>
                        <th scope="col">"Auto-scaling"</th>
                        <th scope="col">"High availability"</th>
                        <th scope="col">"Auto-failover"</th>
                    </tr>
                </thead>
                <tbody>
                    {templates
                        .into_iter()
                        .map(|t| {
                            view! {
                                <tr>
                                    <td>
                                        <span class="name">{t.name}</span>
                                        <span class="desc">{t.description}</span>
                                    </td>
                                    <td class="num">{t.limits.max_nodes}</td>
                                    <td class="num">{t.limits.max_tenants}</td>
                                    <td class="num">{t.limits.max_storage_gb}</td>
                                    <td class="num">{t.settings.retention_days}</td>
                                    <td class="num">{t.settings.health_check_interval_s}</td>
                                    <td>{yes_no(t.settings.auto_scaling)}</td>
                                    <td>{yes_no(t.settings.high_availability)}</td>
                                    <td>{yes_no(t.settings.auto_failover)}</td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}
