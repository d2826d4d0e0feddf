//! The Dynamics 365 connector plugin. [`api`] speaks the Dataverse Web API; the sync engine of `portico-crm`
//! does the rest (deal events written as opportunities, the schedule's pulls, the sync log, the JSON API), on
//! the SDK only.

pub mod api;

mod plugin {
    use portico_crm::engine::{self, Connector};
    use portico_crm::schema::{Entity, Mapping, ObjectMapping};
    use portico_sdk::prelude::*;
    use portico_sdk::secrets;
    use serde_json::Value;

    use crate::api::{Dynamics, STANDARD_CUSTOMER_LOOKUPS, STANDARD_STATUSES};

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    impl Connector for Dynamics {
        const PLUGIN: &'static str = "crm-dynamics";

        fn connect(settings: &Value, session: &Value) -> Result<Self, String> {
            let setting = |k: &str| settings[k].as_str().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
            let secret = |k: &str| secrets::get(k).ok().filter(|v| !v.is_empty());
            // The organisation's own status reasons, once a mapping was checked against its schema.
            let statuses = session["statuses"]
                .as_array()
                .map(|a| a.iter().filter_map(|p| Some((p[0].as_i64()?, p[1].as_i64()?))).collect())
                .unwrap_or_else(|| STANDARD_STATUSES.to_vec());
            Ok(Dynamics {
                authority: setting("authority").unwrap_or_else(|| "https://login.microsoftonline.com".into()),
                tenant: setting("tenant_id").ok_or("set the directory (tenant) id in the settings")?,
                org_url: setting("org_url").ok_or("set the environment URL in the settings")?,
                client_id: setting("client_id").ok_or("set the application (client) id in the settings")?,
                client_secret: secret("client_secret").ok_or("set the client_secret secret")?,
                access_token: secret("access_token"),
                statuses,
                option_fields: vec!["statuscode".into(), "salesstagecode".into()],
                customer_lookups: session["customer_lookups"]
                    .as_array()
                    .map(|a| a.iter().filter_map(|f| f.as_str().map(String::from)).collect())
                    .unwrap_or_else(|| STANDARD_CUSTOMER_LOOKUPS.iter().map(|s| s.to_string()).collect()),
            })
        }

        fn session(&self) -> Value {
            json!({ "statuses": self.statuses, "customer_lookups": self.customer_lookups })
        }

        fn default_mapping() -> Mapping {
            Mapping {
                objects: vec![
                    ObjectMapping {
                        entity: Entity::Deal,
                        object: "opportunity".into(),
                        fields: pairs(&[
                            ("name", "name"),
                            ("amount", "estimatedvalue"),
                            ("close_date", "estimatedclosedate"),
                            ("stage", "statuscode"),
                            ("notes", "description"),
                            ("customer_account", "parentaccountid"),
                            ("partner_account", "portal_partneraccountid"),
                            ("contact", "parentcontactid"),
                        ]),
                        external_id: Some("portal_dealid".into()),
                    },
                    ObjectMapping {
                        entity: Entity::Customer,
                        object: "account".into(),
                        fields: pairs(&[("name", "name"), ("domain", "websiteurl"), ("country", "address1_country")]),
                        external_id: None,
                    },
                    ObjectMapping {
                        entity: Entity::Partner,
                        object: "account".into(),
                        fields: pairs(&[("name", "name")]),
                        external_id: Some("portal_orgid".into()),
                    },
                    ObjectMapping {
                        entity: Entity::Contact,
                        object: "contact".into(),
                        fields: pairs(&[
                            ("first_name", "firstname"),
                            ("last_name", "lastname"),
                            ("email", "emailaddress1"),
                            ("customer_account", "parentcustomerid"),
                        ]),
                        external_id: None,
                    },
                ],
                // Status reasons: In Progress (1) is an approved registration; Won (3); Out-Sold (5) or Canceled (4).
                stages: pairs(&[("1", "approved"), ("3", "won"), ("5", "lost"), ("4", "lost")]),
            }
        }
    }

    struct DynamicsPlugin;

    impl Plugin for DynamicsPlugin {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            if req.api {
                return engine::api::<Dynamics>(ctx, &req);
            }
            engine::page::<Dynamics>(ctx, &req, "Dynamics 365 sync")
        }

        fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
            engine::on_deal_event::<Dynamics>(ctx, &event)
        }

        fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
            match widget {
                "sync" => engine::widget::<Dynamics>(ctx),
                other => Err(Error::NotFound(format!("no widget {other}"))),
            }
        }

        fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
            match schedule {
                "sync" => engine::run::<Dynamics>(ctx).map(|_| ()),
                other => Err(Error::NotFound(format!("no schedule {other}"))),
            }
        }
    }

    portico_sdk::export_plugin!(DynamicsPlugin);
}
