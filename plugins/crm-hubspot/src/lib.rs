//! The HubSpot connector plugin. [`api`] speaks HubSpot's CRM API; the sync engine of `portico-crm` does the rest
//! (deal events written as deals, the schedule's pulls, the sync log, the JSON API), on the SDK only.

pub mod api;

mod plugin {
    use portico_crm::engine::{self, Connector};
    use portico_crm::schema::{Entity, Mapping, ObjectMapping};
    use portico_sdk::prelude::*;
    use portico_sdk::secrets;
    use serde_json::Value;

    use crate::api::{Auth, HubSpot};

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    impl Connector for HubSpot {
        const PLUGIN: &'static str = "crm-hubspot";

        fn connect(settings: &Value, _session: &Value) -> Result<Self, String> {
            let setting = |k: &str| settings[k].as_str().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
            let secret = |k: &str| secrets::get(k).ok().filter(|v| !v.is_empty());
            let auth = match setting("client_id") {
                Some(client_id) => Auth::OAuth {
                    client_id,
                    client_secret: secret("client_secret").ok_or("set the client_secret secret")?,
                    refresh_token: secret("refresh_token").ok_or("set the refresh_token secret")?,
                },
                None => Auth::PrivateApp(
                    secret("private_app_token")
                        .ok_or("set a client id in the settings, or the private_app_token secret for a private app")?,
                ),
            };
            Ok(HubSpot {
                base_url: setting("api_url").unwrap_or_else(|| "https://api.hubapi.com".into()),
                portal_id: setting("portal_id"),
                auth,
                access_token: secret("access_token"),
            })
        }

        fn default_mapping() -> Mapping {
            Mapping {
                objects: vec![
                    ObjectMapping {
                        entity: Entity::Deal,
                        object: "deals".into(),
                        fields: pairs(&[
                            ("name", "dealname"),
                            ("amount", "amount"),
                            ("close_date", "closedate"),
                            ("stage", "dealstage"),
                            ("notes", "description"),
                            ("customer_account", "associations.companies"),
                            ("partner_account", "associations.companies"),
                            ("contact", "associations.contacts"),
                        ]),
                        external_id: Some("portal_deal_id".into()),
                    },
                    ObjectMapping {
                        entity: Entity::Customer,
                        object: "companies".into(),
                        fields: pairs(&[("name", "name"), ("domain", "domain"), ("country", "country")]),
                        external_id: None,
                    },
                    ObjectMapping {
                        entity: Entity::Partner,
                        object: "companies".into(),
                        fields: pairs(&[("name", "name")]),
                        external_id: Some("portal_org_id".into()),
                    },
                    ObjectMapping {
                        entity: Entity::Contact,
                        object: "contacts".into(),
                        fields: pairs(&[
                            ("first_name", "firstname"),
                            ("last_name", "lastname"),
                            ("email", "email"),
                            ("customer_account", "associations.companies"),
                        ]),
                        external_id: None,
                    },
                ],
                stages: pairs(&[("qualifiedtobuy", "approved"), ("closedwon", "won"), ("closedlost", "lost")]),
            }
        }
    }

    struct HubSpotPlugin;

    impl Plugin for HubSpotPlugin {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            if req.api {
                return engine::api::<HubSpot>(ctx, &req);
            }
            engine::page::<HubSpot>(ctx, &req, "HubSpot sync")
        }

        fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
            engine::on_deal_event::<HubSpot>(ctx, &event)
        }

        fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
            match widget {
                "sync" => engine::widget::<HubSpot>(ctx),
                other => Err(Error::NotFound(format!("no widget {other}"))),
            }
        }

        fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
            match schedule {
                "sync" => engine::run::<HubSpot>(ctx).map(|_| ()),
                other => Err(Error::NotFound(format!("no schedule {other}"))),
            }
        }
    }

    portico_sdk::export_plugin!(HubSpotPlugin);
}
