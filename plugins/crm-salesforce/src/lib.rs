//! The Salesforce connector plugin. [`api`] speaks Salesforce's REST API; the sync engine of `portico-crm` does
//! the rest (deal events written as opportunities, the schedule's pulls, the sync log, the JSON API), on the SDK
//! only.

pub mod api;

mod plugin {
    use portico_crm::engine::{self, Connector};
    use portico_crm::schema::{Entity, Mapping, ObjectMapping};
    use portico_sdk::prelude::*;
    use portico_sdk::secrets;
    use serde_json::Value;

    use crate::api::Salesforce;

    fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
        p.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
    }

    impl Connector for Salesforce {
        const PLUGIN: &'static str = "crm-salesforce";

        fn connect(settings: &Value, session: &Value) -> Result<Self, String> {
            let setting = |k: &str| settings[k].as_str().map(str::trim).filter(|v| !v.is_empty()).map(String::from);
            let secret = |k: &str| secrets::get(k).ok().filter(|v| !v.is_empty());
            let client_id = setting("client_id").ok_or("set the connected app's consumer key in the settings")?;
            let client_secret = secret("client_secret").ok_or("set the client_secret secret")?;
            let refresh_token = secret("refresh_token").ok_or("set the refresh_token secret")?;
            Ok(Salesforce {
                login_url: setting("login_url").unwrap_or_else(|| "https://login.salesforce.com".into()),
                client_id,
                client_secret,
                refresh_token,
                access_token: secret("access_token"),
                instance_url: session["instance_url"].as_str().map(String::from),
            })
        }

        fn session(&self) -> Value {
            json!({ "instance_url": self.instance_url })
        }

        fn default_mapping() -> Mapping {
            Mapping {
                objects: vec![
                    ObjectMapping {
                        entity: Entity::Deal,
                        object: "Opportunity".into(),
                        fields: pairs(&[
                            ("name", "Name"),
                            ("amount", "Amount"),
                            ("close_date", "CloseDate"),
                            ("stage", "StageName"),
                            ("notes", "Description"),
                            ("customer_account", "AccountId"),
                            ("partner_account", "PartnerAccountId"),
                        ]),
                        external_id: Some("Partner_Deal_Id__c".into()),
                    },
                    ObjectMapping {
                        entity: Entity::Customer,
                        object: "Account".into(),
                        fields: pairs(&[("name", "Name"), ("domain", "Website"), ("country", "BillingCountry")]),
                        external_id: None,
                    },
                    ObjectMapping {
                        entity: Entity::Partner,
                        object: "Account".into(),
                        fields: pairs(&[("name", "Name")]),
                        external_id: Some("Portal_Org_Id__c".into()),
                    },
                    // The contact goes under the customer's account (an opportunity's primary contact is set
                    // through contact roles, which the connector leaves to the CRM).
                    ObjectMapping {
                        entity: Entity::Contact,
                        object: "Contact".into(),
                        fields: pairs(&[
                            ("first_name", "FirstName"),
                            ("last_name", "LastName"),
                            ("email", "Email"),
                            ("customer_account", "AccountId"),
                        ]),
                        external_id: None,
                    },
                ],
                stages: pairs(&[("Qualification", "approved"), ("Closed Won", "won"), ("Closed Lost", "lost")])
                    .into_iter()
                    .collect(),
            }
        }
    }

    struct SalesforcePlugin;

    impl Plugin for SalesforcePlugin {
        fn handle(ctx: &Context, req: Request) -> Result<Response, Error> {
            if req.api {
                return engine::api::<Salesforce>(ctx, &req);
            }
            engine::page::<Salesforce>(ctx, &req, "Salesforce sync")
        }

        fn on_event(ctx: &Context, event: Event) -> Result<(), Error> {
            engine::on_deal_event::<Salesforce>(ctx, &event)
        }

        fn render_widget(ctx: &Context, widget: &str) -> Result<View, Error> {
            match widget {
                "sync" => engine::widget::<Salesforce>(ctx),
                other => Err(Error::NotFound(format!("no widget {other}"))),
            }
        }

        fn run_schedule(ctx: &Context, schedule: &str) -> Result<(), Error> {
            match schedule {
                "sync" => engine::run::<Salesforce>(ctx).map(|_| ()),
                other => Err(Error::NotFound(format!("no schedule {other}"))),
            }
        }
    }

    portico_sdk::export_plugin!(SalesforcePlugin);
}
