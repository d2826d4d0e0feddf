//! The CRM connectors' protocols against local servers that speak each CRM's REST API (`portico_tests::crm`):
//! tokens obtained and refreshed the CRM's way, schemas read and mappings checked against them, writes that never
//! duplicate a record, changes pulled across pages, and each failure classified in words without a secret in them.

#[allow(dead_code)]
#[path = "../../../plugins/crm-salesforce/src/api.rs"]
mod salesforce_api;

#[allow(dead_code)]
#[path = "../../../plugins/crm-hubspot/src/api.rs"]
mod hubspot_api;

#[allow(dead_code)]
#[path = "../../../plugins/crm-dynamics/src/api.rs"]
mod dynamics_api;

use std::collections::BTreeSet;
use std::time::Duration;

use portico_crm::connector::{Crm, CrmRecord, Reply, Request, Target, Transport, with_session};
use portico_crm::retry::Failure;
use portico_crm::schema::{Entity, Mapping, ObjectMapping, validate};
use portico_tests::crm::dynamics::{self as fake_d365, FakeDynamics};
use portico_tests::crm::hubspot::{self as fake_hs, FakeHubSpot};
use portico_tests::crm::salesforce::{self as fake, FakeSalesforce, Fault};
use serde_json::{Map, Value, json};

/// Plain HTTP from a test, with a timeout, as the host's outbound client sends a plugin's requests.
struct Http {
    client: reqwest::Client,
}

impl Http {
    fn new(timeout: Duration) -> Http {
        Http { client: reqwest::Client::builder().timeout(timeout).build().unwrap() }
    }
}

impl Transport for Http {
    fn send(&mut self, req: Request) -> Result<Reply, Failure> {
        let client = self.client.clone();
        tokio::task::block_in_place(|| {
            tokio::runtime::Handle::current().block_on(async move {
                let mut r = client.request(req.method.parse().unwrap(), &req.url).body(req.body);
                for (k, v) in &req.headers {
                    r = r.header(k, v);
                }
                let resp = r.send().await.map_err(|e| Failure::Unavailable(format!("{}", e.without_url())))?;
                let status = resp.status().as_u16();
                let headers = resp
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
                    .collect();
                let body = resp.bytes().await.map_err(|e| Failure::Unavailable(e.to_string()))?.to_vec();
                Ok(Reply { status, headers, body })
            })
        })
    }
}

/// Pulls every page of `object`'s changes since `since`, renewing the session when it ends, and checks that the
/// records come oldest first and none twice; `between(pages)` runs after each page that has a next one (to end
/// the session mid-pull). Returns the records in order and how many pages there were.
fn pull_all<C: Crm>(
    crm: &mut C,
    t: &mut Http,
    object: &str,
    wanted: &[String],
    since: i64,
    mut between: impl FnMut(usize),
) -> (Vec<CrmRecord>, usize) {
    let (mut records, mut seen, mut pages, mut next) = (Vec::<CrmRecord>::new(), BTreeSet::new(), 0, None::<String>);
    loop {
        let page =
            with_session(crm, t, &mut Vec::new(), |c, t| c.changed(t, object, wanted, since, next.as_deref())).unwrap();
        pages += 1;
        for r in page.records {
            assert!(records.last().is_none_or(|l| r.modified >= l.modified), "oldest first");
            assert!(seen.insert(r.id.clone()), "{} twice", r.id);
            records.push(r);
        }
        next = page.next;
        if next.is_none() {
            return (records, pages);
        }
        between(pages);
    }
}

fn connector(sf: &FakeSalesforce) -> salesforce_api::Salesforce {
    salesforce_api::Salesforce {
        login_url: sf.base.clone(),
        client_id: fake::CLIENT_ID.into(),
        client_secret: fake::CLIENT_SECRET.into(),
        refresh_token: fake::REFRESH_TOKEN.into(),
        access_token: None,
        instance_url: None,
    }
}

fn fields(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

fn opportunity_mapping() -> Mapping {
    let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    Mapping {
        objects: vec![
            ObjectMapping {
                entity: Entity::Deal,
                object: "Opportunity".into(),
                fields: f(&[
                    ("name", "Name"),
                    ("amount", "Amount"),
                    ("close_date", "CloseDate"),
                    ("stage", "StageName"),
                    ("customer_account", "AccountId"),
                ]),
                external_id: Some("Partner_Deal_Id__c".into()),
            },
            ObjectMapping {
                entity: Entity::Customer,
                object: "Account".into(),
                fields: f(&[("name", "Name"), ("domain", "Website")]),
                external_id: None,
            },
        ],
        stages: vec![
            ("Qualification".into(), "approved".into()),
            ("Closed Won".into(), "won".into()),
            ("Closed Lost".into(), "lost".into()),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_connects_describes_and_writes_each_deal_once() {
    let sf = FakeSalesforce::start().await;
    let mut t = Http::new(Duration::from_secs(5));
    let mut crm = connector(&sf);
    let mut refreshed = Vec::new();

    // No session yet: the first call obtains one with the refresh token.
    let opp = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "Opportunity")).unwrap();
    let acct = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "Account")).unwrap();
    assert_eq!(refreshed.len(), 1, "one token for both calls");
    assert!(opp.iter().any(|f| f.name == "Partner_Deal_Id__c" && f.external_id && f.custom));
    let problems = validate(&opportunity_mapping(), "Salesforce", |o| match o {
        "Opportunity" => Some(opp.as_slice()),
        "Account" => Some(acct.as_slice()),
        _ => None,
    });
    assert!(problems.is_empty(), "{problems:?}");
    let mut bad = opportunity_mapping();
    bad.objects[0].fields.retain(|(k, _)| k != "close_date");
    let problems = validate(&bad, "Salesforce", |o| (o == "Opportunity").then_some(opp.as_slice()));
    assert_eq!(problems[0].message, "Close Date (CloseDate) is required by Salesforce and not mapped");
    let mut not_a_link = opportunity_mapping();
    for (k, v) in not_a_link.objects[0].fields.iter_mut() {
        if k == "customer_account" {
            *v = "Description".into();
        }
    }
    let problems = validate(&not_a_link, "Salesforce", |o| (o == "Opportunity").then_some(opp.as_slice()));
    assert_eq!(
        problems[0].message,
        "Description holds text, and the portal's Link to the customer account is a link to another record"
    );

    // A deal written by its external id, twice (a retry): one opportunity.
    let deal = fields(
        json!({"Name": "Northwind — Edge Router", "Amount": 48000, "CloseDate": "2027-03-31", "StageName": "Qualification"}),
    );
    let target = Target::ExternalId { field: "Partner_Deal_Id__c", value: "deal-1" };
    let first =
        with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "Opportunity", target, &deal)).unwrap();
    let again =
        with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "Opportunity", target, &deal)).unwrap();
    assert_eq!(first, again);
    assert_eq!(sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!("deal-1")).len(), 1);

    // The CRM stores the write and its answer never arrives: the attempt fails, the retry finds the same record.
    sf.inject(Fault::StoreThenHang(Duration::from_secs(3)), 1);
    let mut impatient = Http::new(Duration::from_millis(500));
    let target = Target::ExternalId { field: "Partner_Deal_Id__c", value: "deal-2" };
    let err = crm.write(&mut impatient, "Opportunity", target, &deal).unwrap_err();
    assert!(matches!(err, Failure::Unavailable(_)), "{err:?}");
    let id = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "Opportunity", target, &deal)).unwrap();
    let stored = sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!("deal-2"));
    assert_eq!(stored.len(), 1, "exactly once in the CRM");
    assert_eq!(stored[0]["Id"], json!(id));

    // An account found by its web domain, stored as a URL.
    let acct_id = crm
        .write(
            &mut t,
            "Account",
            Target::New,
            &fields(json!({"Name": "Northwind", "Website": "https://www.northwind.example/"})),
        )
        .unwrap();
    assert_eq!(crm.find(&mut t, "Account", "Website", "northwind.example").unwrap(), Some(acct_id.clone()));
    crm.associate(&mut t, "Opportunity", &id, "AccountId", "Account", &acct_id).unwrap();
    assert_eq!(sf.org().records["Opportunity"][&id]["AccountId"], json!(acct_id));
    assert_eq!(crm.find(&mut t, "Account", "Website", "o'brien.example").unwrap(), None);

    // Salesforce's own errors, in words.
    let err = crm.write(&mut t, "Opportunity", Target::New, &fields(json!({"Name": "No date"}))).unwrap_err();
    assert_eq!(
        err.message(),
        "the CRM rejected the record: REQUIRED_FIELD_MISSING: Required fields are missing: [CloseDate, StageName]"
    );
    let err = crm.write(&mut t, "Opportunity", Target::Id(&id), &fields(json!({"IsWon": true}))).unwrap_err();
    assert!(err.message().contains("INVALID_FIELD_FOR_INSERT_UPDATE"), "{}", err.message());
    sf.inject(Fault::RateLimit, 1);
    let err = crm.describe(&mut t, "Opportunity").unwrap_err();
    assert!(matches!(err, Failure::RateLimited { .. }), "{err:?}");
    sf.inject(Fault::Outage, 1);
    let err = crm.describe(&mut t, "Opportunity").unwrap_err();
    assert_eq!(err.next_attempt(1, 0), Some(30_000), "an outage is retried after a back-off");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_sessions_expire_and_a_revoked_grant_says_so_without_secrets() {
    let sf = FakeSalesforce::start().await;
    let mut t = Http::new(Duration::from_secs(5));
    let mut crm = connector(&sf);
    let mut refreshed = Vec::new();
    with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "Account")).unwrap();
    // The session times out: the next call refreshes once and goes through.
    sf.expire_sessions();
    with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "Account")).unwrap();
    assert_eq!(refreshed.len(), 2);
    assert_ne!(refreshed[0].1, refreshed[1].1, "a new access token each time");

    // The admin revoked the app's access: the refresh fails and says what to do.
    sf.revoke();
    let err = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "Account")).unwrap_err();
    assert!(err.is_connection(), "{err:?}");
    assert!(err.message().contains("revoked or has expired"), "{}", err.message());
    assert_eq!(err.next_attempt(1, 0), None, "waits for a reconnect");
    // Reconnected: works again.
    sf.reconnect();
    with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "Account")).unwrap();

    // Wrong client secret, wrong login URL.
    let mut wrong = connector(&sf);
    wrong.client_secret = "not-it".into();
    let err = wrong.refresh(&mut t).unwrap_err();
    assert!(err.message().contains("client id or client secret is wrong"), "{}", err.message());
    let mut elsewhere = connector(&sf);
    elsewhere.login_url = format!("{}/not-salesforce", sf.base);
    let err = elsewhere.refresh(&mut t).unwrap_err();
    assert!(matches!(err, Failure::BadUrl(_)), "{err:?}");

    // No message carries a credential.
    for e in [err.message(), wrong.refresh(&mut t).unwrap_err().message()] {
        for secret in [fake::CLIENT_SECRET, fake::REFRESH_TOKEN, "not-it"] {
            assert!(!e.contains(secret), "{e}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn salesforce_changes_are_pulled_across_pages_none_missed_or_doubled() {
    let sf = FakeSalesforce::start().await;
    let start = {
        let mut org = sf.org();
        org.page_size = 300;
        let start = org.clock;
        for i in 0..2_000 {
            let stage = if i % 7 == 0 { "Closed Won" } else { "Qualification" };
            org.insert(
                "Opportunity",
                fields(json!({"Name": format!("Opp {i}"), "CloseDate": "2027-01-31", "StageName": stage, "Amount": i})),
            );
        }
        start
    };
    let mut t = Http::new(Duration::from_secs(5));
    let mut crm = connector(&sf);
    let wanted = vec!["StageName".to_string(), "Amount".to_string(), "CloseDate".to_string()];
    // A session that times out between pages is renewed and the locator still works.
    let (records, pages) = pull_all(&mut crm, &mut t, "Opportunity", &wanted, start, |pages| {
        if pages == 3 {
            sf.expire_sessions();
        }
    });
    for r in &records {
        assert!(r.fields.contains_key("StageName") && r.fields.contains_key("Amount"));
    }
    assert_eq!((records.len(), pages), (2_000, 7));
    // Pulling from the newest modification again returns only what changed since.
    let newest = records.last().unwrap().modified;
    let id = records[0].id.clone();
    sf.org().edit("Opportunity", &id, fields(json!({"StageName": "Closed Lost"})));
    let page = crm.changed(&mut t, "Opportunity", &wanted, newest + 1, None).unwrap();
    assert_eq!(page.records.len(), 1);
    assert_eq!(page.records[0].fields["StageName"], json!("Closed Lost"));
}

fn hubspot(hs: &FakeHubSpot) -> hubspot_api::HubSpot {
    hubspot_api::HubSpot {
        base_url: hs.base.clone(),
        portal_id: Some("4412345".into()),
        auth: hubspot_api::Auth::OAuth {
            client_id: fake_hs::CLIENT_ID.into(),
            client_secret: fake_hs::CLIENT_SECRET.into(),
            refresh_token: fake_hs::REFRESH_TOKEN.into(),
        },
        access_token: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_refreshes_its_way_and_writes_each_deal_once() {
    let hs = FakeHubSpot::start().await;
    let mut t = Http::new(Duration::from_secs(5));
    let mut crm = hubspot(&hs);
    let mut refreshed = Vec::new();
    let deals = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "deals")).unwrap();
    let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let mapping = Mapping {
        objects: vec![ObjectMapping {
            entity: Entity::Deal,
            object: "deals".into(),
            fields: f(&[
                ("name", "dealname"),
                ("amount", "amount"),
                ("close_date", "closedate"),
                ("stage", "dealstage"),
            ]),
            external_id: Some("portal_deal_id".into()),
        }],
        stages: vec![
            ("qualifiedtobuy".into(), "approved".into()),
            ("closedwon".into(), "won".into()),
            ("closedlost".into(), "lost".into()),
        ],
    };
    let problems = validate(&mapping, "HubSpot", |o| (o == "deals").then_some(deals.as_slice()));
    assert!(problems.is_empty(), "{problems:?}");
    let mut read_only = mapping.clone();
    read_only.objects[0].fields.push(("notes".into(), "hs_lastmodifieddate".into()));
    let problems = validate(&read_only, "HubSpot", |o| (o == "deals").then_some(deals.as_slice()));
    assert_eq!(problems[0].message, "hs_lastmodifieddate is read-only in HubSpot");

    // Upserted by the unique property, twice, and once more after an answer that never came: one deal each.
    let deal = fields(
        json!({"dealname": "Northwind", "amount": 48000, "closedate": "2027-03-31", "dealstage": "qualifiedtobuy"}),
    );
    let target = Target::ExternalId { field: "portal_deal_id", value: "deal-1" };
    let a = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "deals", target, &deal)).unwrap();
    let b = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "deals", target, &deal)).unwrap();
    assert_eq!(a, b);
    hs.inject(Fault::StoreThenHang(Duration::from_secs(3)), 1);
    let target = Target::ExternalId { field: "portal_deal_id", value: "deal-2" };
    assert!(crm.write(&mut Http::new(Duration::from_millis(500)), "deals", target, &deal).is_err());
    with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "deals", target, &deal)).unwrap();
    assert_eq!(hs.account().find("deals", "portal_deal_id", "deal-1").len(), 1);
    assert_eq!(hs.account().find("deals", "portal_deal_id", "deal-2").len(), 1);
    assert_eq!(hs.account().find("deals", "portal_deal_id", "deal-2")[0]["amount"], json!("48000"));

    // Tokens expire every half hour and the refresh token rotates now and then: the connector keeps up, and hands
    // each new secret back to be stored.
    for _ in 0..4 {
        hs.expire_tokens();
        with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "companies")).unwrap();
    }
    let rotated: Vec<&(String, String)> = refreshed.iter().filter(|(k, _)| k == "refresh_token").collect();
    assert!(!rotated.is_empty(), "{refreshed:?}");
    assert_eq!(rotated.last().unwrap().1, hs.account().refresh_token);

    // HubSpot's burst limit and a bad stage value, in words.
    hs.inject(Fault::RateLimit, 1);
    let err = crm.describe(&mut t, "deals").unwrap_err();
    assert!(matches!(err, Failure::RateLimited { wait_ms: 10_000, .. }), "{err:?}");
    let err = crm.write(&mut t, "deals", Target::Id(&a), &fields(json!({"dealstage": "won-ish"}))).unwrap_err();
    assert!(err.message().contains("was not one of the allowed options"), "{}", err.message());
    let company = crm
        .write(&mut t, "companies", Target::New, &fields(json!({"name": "Northwind", "domain": "northwind.example"})))
        .unwrap();
    assert_eq!(crm.find(&mut t, "companies", "domain", "northwind.example").unwrap(), Some(company.clone()));
    assert!(deals.iter().any(|f| f.name == "associations.companies"), "associations offered as fields");
    crm.associate(&mut t, "deals", &a, "associations.companies", "companies", &company).unwrap();
    let link = ("deals".to_string(), a.clone(), "companies".to_string(), company.clone());
    assert!(hs.account().associations.contains(&link));
    // An association reads as its pseudo-field.
    assert_eq!(crm.linked(&mut t, "deals", &a, "associations.companies").unwrap(), Some(company.clone()));
    assert_eq!(crm.linked(&mut t, "deals", &a, "associations.contacts").unwrap(), None);

    // A private app's token needs no refresh; one that is refused is the connection's failure.
    let mut private = hubspot(&hs);
    private.auth = hubspot_api::Auth::PrivateApp(fake_hs::PRIVATE_APP_TOKEN.into());
    private.describe(&mut t, "contacts").unwrap();
    private.auth = hubspot_api::Auth::PrivateApp("pat-na1-wrong".into());
    let err = with_session(&mut private, &mut t, &mut Vec::new(), |c, t| c.describe(t, "contacts")).unwrap_err();
    assert!(err.is_connection() && !err.message().contains("pat-na1-wrong"), "{err:?}");

    // The app was uninstalled: refresh says so, without a secret.
    hs.revoke();
    let err = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "deals")).unwrap_err();
    assert!(err.message().contains("revoked or is unknown"), "{}", err.message());
    for secret in [fake_hs::CLIENT_SECRET, fake_hs::REFRESH_TOKEN] {
        assert!(!err.message().contains(secret));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_changes_are_searched_across_pages_none_missed_or_doubled() {
    let hs = FakeHubSpot::start().await;
    let start = {
        let mut a = hs.account();
        let start = a.clock;
        for i in 0..2_000 {
            let stage = if i % 5 == 0 { "closedwon" } else { "qualifiedtobuy" };
            a.insert("deals", fields(json!({"dealname": format!("Deal {i}"), "dealstage": stage, "amount": i})));
        }
        start
    };
    let mut t = Http::new(Duration::from_secs(5));
    let mut crm = hubspot(&hs);
    let wanted = vec!["dealstage".to_string(), "amount".to_string()];
    let (records, pages) = pull_all(&mut crm, &mut t, "deals", &wanted, start, |pages| {
        if pages == 5 {
            hs.expire_tokens();
        }
    });
    assert_eq!((records.len(), pages), (2_000, 20));
}

fn dynamics(d: &FakeDynamics) -> dynamics_api::Dynamics {
    dynamics_api::Dynamics {
        authority: d.base.clone(),
        tenant: fake_d365::TENANT.into(),
        org_url: d.base.clone(),
        client_id: fake_d365::CLIENT_ID.into(),
        client_secret: fake_d365::CLIENT_SECRET.into(),
        access_token: None,
        statuses: dynamics_api::STANDARD_STATUSES.to_vec(),
        option_fields: vec![],
        customer_lookups: dynamics_api::STANDARD_CUSTOMER_LOOKUPS.iter().map(|s| s.to_string()).collect(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamics_signs_in_describes_and_closes_opportunities_its_way() {
    let d = FakeDynamics::start().await;
    let mut t = Http::new(Duration::from_secs(5));
    let mut crm = dynamics(&d);
    let mut refreshed = Vec::new();
    let opp = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "opportunity")).unwrap();
    assert_eq!(refreshed.len(), 1);
    assert!(opp.iter().any(|f| f.name == "portal_dealid" && f.external_id && f.custom), "the alternate key");
    assert!(crm.statuses.contains(&(100_000_001, 0)), "the organisation's own status reasons: {:?}", crm.statuses);
    let f = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
    let mapping = Mapping {
        objects: vec![ObjectMapping {
            entity: Entity::Deal,
            object: "opportunity".into(),
            fields: f(&[
                ("name", "name"),
                ("amount", "estimatedvalue"),
                ("close_date", "estimatedclosedate"),
                ("stage", "statuscode"),
            ]),
            external_id: Some("portal_dealid".into()),
        }],
        stages: vec![("100000001".into(), "approved".into()), ("3".into(), "won".into()), ("5".into(), "lost".into())],
    };
    let problems = validate(&mapping, "Dynamics 365", |o| (o == "opportunity").then_some(opp.as_slice()));
    assert!(problems.is_empty(), "{problems:?}");

    // Upserted by the alternate key, twice and after a lost answer: one opportunity.
    let deal = fields(
        json!({"name": "Globex — Edge Router", "estimatedvalue": 48000, "estimatedclosedate": "2027-03-31", "statuscode": "100000001"}),
    );
    let target = Target::ExternalId { field: "portal_dealid", value: "deal-1" };
    let id = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "opportunity", target, &deal)).unwrap();
    assert_eq!(
        with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "opportunity", target, &deal)).unwrap(),
        id
    );
    d.inject(Fault::StoreThenHang(Duration::from_secs(3)), 1);
    let target2 = Target::ExternalId { field: "portal_dealid", value: "deal-2" };
    assert!(crm.write(&mut Http::new(Duration::from_millis(500)), "opportunity", target2, &deal).is_err());
    with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "opportunity", target2, &deal)).unwrap();
    for v in ["deal-1", "deal-2"] {
        assert_eq!(d.env().find("opportunity", "portal_dealid", &json!(v)).len(), 1, "{v}");
    }
    assert_eq!(d.env().find("opportunity", "portal_dealid", &json!("deal-1"))[0]["statuscode"], json!(100_000_001));

    // Won in the portal: closed with WinOpportunity, never by writing the status.
    let won = fields(json!({"statuscode": "3"}));
    with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.write(t, "opportunity", Target::Id(&id), &won)).unwrap();
    let rec = d.env().records["opportunity"][&id].clone();
    assert_eq!((rec["statecode"].clone(), rec["statuscode"].clone()), (json!(1), json!(3)));
    assert!(d.env().calls.iter().any(|c| c == "POST WinOpportunity"));

    // An update by id never creates; Dataverse's errors and its limit, in words.
    let missing = "00000000-0000-4000-8000-00000000ffff";
    let err = crm.write(&mut t, "opportunity", Target::Id(missing), &fields(json!({"name": "x"}))).unwrap_err();
    assert!(matches!(err, Failure::NotFound(_)), "{err:?}");
    assert_eq!(d.env().records["opportunity"].len(), 2);
    let err = crm.write(&mut t, "opportunity", Target::New, &fields(json!({"estimatedvalue": 1}))).unwrap_err();
    assert_eq!(err.message(), "the CRM rejected the record: name is required (0x80040200)");
    d.inject(Fault::RateLimit, 1);
    let err = crm.describe(&mut t, "account").unwrap_err();
    assert!(matches!(err, Failure::RateLimited { wait_ms: 2_000, .. }), "{err:?}");
    let acct = crm
        .write(
            &mut t,
            "account",
            Target::New,
            &fields(json!({"name": "Globex", "websiteurl": "https://www.globex.example"})),
        )
        .unwrap();
    assert_eq!(crm.find(&mut t, "account", "websiteurl", "globex.example").unwrap(), Some(acct.clone()));
    crm.associate(&mut t, "opportunity", &id, "parentaccountid", "account", &acct).unwrap();
    assert_eq!(d.env().records["opportunity"][&id]["_parentaccountid_value"], json!(acct));
    // A lookup reads back as `_x_value`, which `linked` selects.
    assert_eq!(crm.linked(&mut t, "opportunity", &id, "parentaccountid").unwrap(), Some(acct.clone()));
    // A Customer-type lookup (it may name an account or a contact) is bound through the table's own navigation
    // property: `parentcustomerid_account`, as Dataverse requires.
    let contact = crm
        .write(
            &mut t,
            "contact",
            Target::New,
            &fields(json!({"lastname": "Doe", "emailaddress1": "jane@globex.example"})),
        )
        .unwrap();
    crm.associate(&mut t, "contact", &contact, "parentcustomerid", "account", &acct).unwrap();
    assert!(d.env().bodies.last().unwrap().contains("parentcustomerid_account@odata.bind"));
    assert_eq!(d.env().records["contact"][&contact]["_parentcustomerid_value"], json!(acct));
    assert_eq!(crm.find(&mut t, "contact", "emailaddress1", "jane@globex.example").unwrap(), Some(contact.clone()));
    let mut naive = dynamics(&d);
    naive.customer_lookups.clear();
    let err = with_session(&mut naive, &mut t, &mut Vec::new(), |c, t| {
        c.associate(t, "contact", &contact, "parentcustomerid", "account", &acct)
    })
    .unwrap_err();
    assert!(err.message().contains("undeclared property 'parentcustomerid'"), "{}", err.message());
    // A describe of the contact table tells a connection which lookups are Customer-type.
    with_session(&mut naive, &mut t, &mut Vec::new(), |c, t| c.describe(t, "contact")).unwrap();
    assert_eq!(naive.customer_lookups, vec!["parentcustomerid".to_string()]);

    // Tokens are asked for again when refused; a deleted client secret, a wrong tenant or environment say so.
    d.expire_tokens();
    with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "contact")).unwrap();
    d.revoke();
    let err = with_session(&mut crm, &mut t, &mut refreshed, |c, t| c.describe(t, "contact")).unwrap_err();
    assert!(err.message().contains("client secret is wrong or has expired"), "{}", err.message());
    assert!(!err.message().contains(fake_d365::CLIENT_SECRET));
    d.reconnect();
    let mut wrong_tenant = dynamics(&d);
    wrong_tenant.tenant = "00000000-0000-0000-0000-000000000000".into();
    assert!(wrong_tenant.refresh(&mut t).unwrap_err().message().contains("tenant) id was not found"));
    let mut wrong_org = dynamics(&d);
    wrong_org.org_url = "https://other.crm.example".into();
    assert!(wrong_org.refresh(&mut t).unwrap_err().message().contains("not a Dynamics 365 environment"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamics_changes_are_followed_through_next_links_none_missed_or_doubled() {
    let d = FakeDynamics::start().await;
    let start = {
        let mut e = d.env();
        let start = e.clock;
        for i in 0..2_000 {
            e.insert("opportunity", fields(json!({"name": format!("Opp {i}"), "estimatedvalue": i})));
        }
        start
    };
    let mut t = Http::new(Duration::from_secs(5));
    let mut crm = dynamics(&d);
    let wanted = vec!["statuscode".to_string(), "estimatedvalue".to_string()];
    let (records, pages) = pull_all(&mut crm, &mut t, "opportunity", &wanted, start, |pages| {
        if pages == 2 {
            d.expire_tokens();
        }
    });
    assert!(records.iter().all(|r| !r.fields.contains_key("@odata.etag")));
    assert_eq!((records.len(), pages), (2_000, 4));
    assert!(
        crm.changed(&mut t, "opportunity", &wanted, start, Some("https://elsewhere.example/api/data/v9.2/x")).is_err()
    );
}

/// A connector installed beside deal registration in the demo portal (enabled in `reseller`), reaching a local
/// CRM (its manifest also lists 127.0.0.1, which the operator allows), connected by `settings` and `secrets`.
async fn portal_with(
    plugin: portico_tests::PluginSource,
    settings: Value,
    secrets: &[(&str, &str)],
    timeout_ms: u32,
) -> portico_tests::TestApp {
    use portico_tests::{DbKind, deals, spawn_app_with};
    let app = spawn_app_with(DbKind::Sqlite, |c| c.runtime.outbound_allow = vec!["127.0.0.0/8".parse().unwrap()]).await;
    app.install(&deals().package(None), &["reseller", "msp"]).await;
    let manifest = plugin
        .manifest_text()
        .replace("outbound_hosts = [", "outbound_hosts = [\"127.0.0.1\", ")
        .replace("timeout_ms = 8000", &format!("timeout_ms = {timeout_ms}"));
    let installed = app.install(&plugin.package(Some(&manifest)), &["reseller"]).await;
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let scope = app.state.db.tenant(&tenant.id);
    let program = scope.program_by_key("reseller").await.unwrap();
    scope.set_plugin_settings(&installed.plugin_id, &program.id, &settings.to_string()).await.unwrap();
    for (name, value) in secrets {
        portico::plugins::set_secret(&app.state, &tenant, &installed.plugin_id, name, Some(value), None).await.unwrap();
    }
    app
}

/// The Salesforce connector, connected to the local Salesforce.
async fn portal_with_salesforce(sf: &FakeSalesforce, timeout_ms: u32) -> portico_tests::TestApp {
    let settings = json!({ "login_url": sf.base, "client_id": fake::CLIENT_ID, "conflict_policy": "crm_wins" });
    let secrets = [("client_secret", fake::CLIENT_SECRET), ("refresh_token", fake::REFRESH_TOKEN)];
    let app = portal_with(portico_tests::crm_salesforce(), settings, &secrets, timeout_ms).await;
    // The CRM's clock runs with the portal's: a first pull starts at "now".
    sf.org().clock = app.state.clock.now_ms();
    app
}

async fn deliver(app: &portico_tests::TestApp) {
    portico::plugins::jobs::deliver_due(&app.state, 500).await.unwrap();
}

/// A partner registers a deal and a manager approves it, through deal registration's API; returns its id.
async fn approved_deal(app: &portico_tests::TestApp, customer: &str, domain: &str) -> String {
    use reqwest::Method;
    let bob = app.client().token("bob@northwind.example", "portico-demo").await;
    let body = json!({ "customer_name": customer, "customer_domain": domain, "country": "DE", "amount": 20000,
        "currency": "EUR", "products": ["Edge Router"], "expected_close_date": "2027-03-31",
        "contact_name": "Jane Doe", "contact_email": "jane@example.com", "submit": true });
    let page = app.client().api(Method::POST, "/api/v1/p/deal-registration/deals", Some(&bob), Some(body)).await;
    assert_eq!(page.status, reqwest::StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let manager = app.client().token("manager@acme.example", "portico-demo").await;
    let path = format!("/api/v1/p/deal-registration/deals/{id}/approve");
    let page = app.client().api(Method::POST, &path, Some(&manager), Some(json!({}))).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    id
}

async fn crm_api(
    app: &portico_tests::TestApp,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> portico_tests::Page {
    plugin_api(app, "crm-salesforce", method, path, body).await
}

async fn plugin_api(
    app: &portico_tests::TestApp,
    plugin: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> portico_tests::Page {
    let admin = app.client().token("admin@acme.example", "portico-demo").await;
    app.client().api(method, &format!("/api/v1/p/{plugin}{path}"), Some(&admin), body).await
}

/// The deal as deal registration's API gives it to a manager.
async fn deal_json(app: &portico_tests::TestApp, id: &str) -> Value {
    let manager = app.client().token("manager@acme.example", "portico-demo").await;
    let path = format!("/api/v1/p/deal-registration/deals/{id}");
    app.client().api(reqwest::Method::GET, &path, Some(&manager), None).await.json()
}

/// The deal's status and amount as deal registration's API gives them to a manager.
async fn deal_state(app: &portico_tests::TestApp, id: &str) -> (Value, Value) {
    let manager = app.client().token("manager@acme.example", "portico-demo").await;
    let path = format!("/api/v1/p/deal-registration/deals/{id}");
    let deal = app.client().api(reqwest::Method::GET, &path, Some(&manager), None).await.json();
    (deal["status"].clone(), deal["amount"].clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_deals_reach_salesforce_once_and_salesforce_closes_them_in_the_portal() {
    use reqwest::Method;
    let sf = FakeSalesforce::start().await;
    let app = portal_with_salesforce(&sf, 1_500).await;

    // Approved: written at once, with the customer's account found or created by its domain and linked.
    let first = approved_deal(&app, "Globex", "https://www.globex.com").await;
    deliver(&app).await;
    let opp = sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!(first));
    assert_eq!(opp.len(), 1, "{:?}", sf.org().calls);
    assert_eq!(opp[0]["StageName"], json!("Qualification"));
    assert_eq!(opp[0]["Amount"], json!(20000.0));
    let customer = sf.org().find("Account", "Website", &json!("globex.com"));
    assert_eq!(customer.len(), 1);
    let account_id = customer[0]["Id"].clone();
    assert_eq!(opp[0]["AccountId"], account_id);
    // The partner's account, upserted by the portal's org id, is the opportunity's partner account; the customer's
    // contact is created under the customer's account.
    let org_id = deal_json(&app, &first).await["org_id"].clone();
    let partner = sf.org().find("Account", "Portal_Org_Id__c", &org_id);
    assert_eq!((partner.len(), partner[0]["Name"].clone()), (1, json!("Northwind Solutions")), "{partner:?}");
    assert_eq!(opp[0]["PartnerAccountId"], partner[0]["Id"]);
    let contact = sf.org().find("Contact", "Email", &json!("jane@example.com"));
    assert_eq!(contact.len(), 1);
    assert_eq!((contact[0]["LastName"].clone(), contact[0]["AccountId"].clone()), (json!("Doe"), account_id));

    // A second deal: Salesforce stores the new account and its answer never comes (the call outlives the plugin's
    // deadline), so the whole write fails; the event is delivered again, the account is found by its domain and
    // the opportunity upserted by the external id: each exists once.
    let second = approved_deal(&app, "Umbrella", "umbrella.com").await;
    sf.inject(Fault::StoreThenHang(Duration::from_secs(3)), 1);
    deliver(&app).await;
    assert_eq!(sf.org().records["Account"].len(), 3, "stored before the hang");
    assert!(sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!(second)).is_empty());
    // Event delivery retries after a back-off of 2 s.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    deliver(&app).await;
    let log = crm_api(&app, Method::GET, "/log", None).await.body;
    assert_eq!(sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!(second)).len(), 1, "exactly once: {log}");
    assert_eq!(sf.org().records["Account"].len(), 3, "the account was found, not made again");
    assert_eq!(sf.org().records["Contact"].len(), 1, "the contact was found by e-mail, not made again");
    let status = crm_api(&app, Method::GET, "/status", None).await.json();
    assert_eq!((status["synced"].clone(), status["connected"].clone()), (json!(2), json!(true)), "{status}");

    // Closed won in Salesforce, with a new amount: the schedule pulls it and deal registration closes the deal.
    let opp_id =
        sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!(first))[0]["Id"].as_str().unwrap().to_string();
    sf.org().clock = app.state.clock.now_ms() + 1_000;
    sf.org().edit("Opportunity", &opp_id, fields(json!({"StageName": "Closed Won", "Amount": 61000})));
    let ran = crm_api(&app, Method::POST, "/sync", None).await;
    assert_eq!(ran.json()["pulled"], json!(1), "{}", ran.body);
    deliver(&app).await;
    let manager = app.client().token("manager@acme.example", "portico-demo").await;
    let deal = app
        .client()
        .api(Method::GET, &format!("/api/v1/p/deal-registration/deals/{first}"), Some(&manager), None)
        .await
        .json();
    assert_eq!((deal["status"].clone(), deal["amount"].clone()), (json!("won"), json!(61000.0)), "{deal}");
    let timeline = deal["timeline"].to_string();
    assert!(timeline.contains("Salesforce sync") && timeline.contains("closed won in Salesforce"), "{timeline}");
    // Pulling again changes nothing: what was applied is not applied twice.
    assert_eq!(crm_api(&app, Method::POST, "/sync", None).await.json()["pulled"], json!(0));

    // The admin revokes the app's access: the next deal waits, the log and the status say why in words.
    sf.revoke();
    let third = approved_deal(&app, "Initech", "initech.com").await;
    deliver(&app).await;
    let status = crm_api(&app, Method::GET, "/status", None).await.json();
    assert_eq!(status["connected"], json!(false), "{status}");
    assert!(status["connection_error"].as_str().unwrap().contains("revoked or has expired"), "{status}");
    let log = crm_api(&app, Method::GET, "/log?status=paused", None).await.json();
    assert_eq!(log["entries"][0]["deal_id"], json!(third), "{log}");
    assert!(log["entries"][0]["last_error"].as_str().unwrap().contains("connect again"), "{log}");
    let page = {
        let mut admin = app.client();
        admin.login_ok("admin@acme.example").await;
        admin.get("/p/crm-salesforce/").await
    };
    assert!(page.body.contains("Nothing syncs until this is fixed") && page.body.contains("Initech"), "{}", page.body);
    // The dashboard's sync-health widget says so too, beside its chart.
    let dashboard = {
        let mut admin = app.client();
        admin.login_ok("admin@acme.example").await;
        admin.get("/").await.body
    };
    assert!(dashboard.contains("Salesforce sync health") && dashboard.contains("Not syncing"), "{dashboard}");
    assert!(dashboard.contains("revoked or has expired") && dashboard.contains("Sync log by status"));
    // Reconnected: the next sync probes, finds it works, and what waited goes out (the new deal, and the won
    // deal's own update, which had failed on the revoked grant first).
    sf.reconnect();
    let ran = crm_api(&app, Method::POST, "/sync", None).await.json();
    assert_eq!(ran["written"], json!(2), "{ran}");
    assert_eq!(sf.org().records["Opportunity"][&opp_id]["StageName"], json!("Closed Won"));
    assert_eq!(sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!(third)).len(), 1);
    assert_eq!(crm_api(&app, Method::GET, "/status", None).await.json()["connected"], json!(true));

    // No secret in any answer or page.
    let answers = [
        crm_api(&app, Method::GET, "/status", None).await.body,
        crm_api(&app, Method::GET, "/log", None).await.body,
        crm_api(&app, Method::GET, "/mapping", None).await.body,
        page.body,
    ];
    let sessions = sf.org().sessions.clone();
    for body in &answers {
        for secret in
            [fake::CLIENT_SECRET, fake::REFRESH_TOKEN].iter().copied().chain(sessions.iter().map(String::as_str))
        {
            assert!(!body.contains(secret), "a secret in {body}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_that_does_not_fit_salesforce_is_refused_when_saved() {
    use reqwest::Method;
    let sf = FakeSalesforce::start().await;
    let app = portal_with_salesforce(&sf, 8_000).await;
    let mut m = crm_api(&app, Method::GET, "/mapping", None).await.json()["mapping"].clone();
    m["objects"][0]["fields"].as_array_mut().unwrap().retain(|p| p[0] != json!("close_date"));
    m["objects"][0]["fields"].as_array_mut().unwrap().push(json!(["notes", "IsWon"]));
    let page = crm_api(&app, Method::PUT, "/mapping", Some(m)).await;
    assert_eq!(page.status, reqwest::StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    let messages = page.json()["error"]["fields"].to_string();
    assert!(messages.contains("IsWon is read-only in Salesforce"), "{messages}");
    assert!(messages.contains("Close Date (CloseDate) is required by Salesforce and not mapped"), "{messages}");
    // The default mapping fits, and is saved.
    let good = crm_api(&app, Method::GET, "/mapping", None).await.json()["mapping"].clone();
    let page = crm_api(&app, Method::PUT, "/mapping", Some(good)).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    assert_eq!(crm_api(&app, Method::GET, "/mapping", None).await.json()["saved"], json!(true));
    // "Test connection" says what is wrong in words.
    let test = crm_api(&app, Method::POST, "/test", None).await.json();
    assert_eq!(test["ok"], json!(true), "{test}");
    sf.revoke();
    let test = crm_api(&app, Method::POST, "/test", None).await.json();
    assert!(test["message"].as_str().unwrap().contains("revoked or has expired"), "{test}");
    let tenant = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    portico::plugins::set_secret(&app.state, &tenant, "crm-salesforce", "client_secret", None, None).await.unwrap();
    let test = crm_api(&app, Method::POST, "/test", None).await.json();
    assert_eq!(test["message"], json!("not connected yet: set the client_secret secret"), "{test}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubspot_gets_each_approved_deal_once_and_its_closed_won_comes_back() {
    use reqwest::Method;
    let hs = FakeHubSpot::start().await;
    let settings = json!({ "api_url": hs.base, "client_id": fake_hs::CLIENT_ID, "portal_id": "4412345" });
    let secrets = [("client_secret", fake_hs::CLIENT_SECRET), ("refresh_token", fake_hs::REFRESH_TOKEN)];
    let app = portal_with(portico_tests::crm_hubspot(), settings, &secrets, 8_000).await;
    hs.account().clock = app.state.clock.now_ms();
    let id = approved_deal(&app, "Globex", "globex.com").await;
    deliver(&app).await;
    let found = hs.account().find("deals", "portal_deal_id", &id);
    assert_eq!(found.len(), 1, "{:?}", hs.account().calls);
    assert_eq!(found[0]["dealstage"], json!("qualifiedtobuy"));
    let deal_id = found[0]["hs_object_id"].as_str().unwrap().to_string();
    let company =
        hs.account().find("companies", "domain", "globex.com")[0]["hs_object_id"].as_str().unwrap().to_string();
    assert!(hs.account().associations.contains(&(
        "deals".into(),
        deal_id.clone(),
        "companies".into(),
        company.clone()
    )));
    // The partner's company (by its unique portal org id) and the contact (by e-mail, under the customer's
    // company) are associated with the deal too.
    let org_id = deal_json(&app, &id).await["org_id"].as_str().unwrap().to_string();
    let partner =
        hs.account().find("companies", "portal_org_id", &org_id)[0]["hs_object_id"].as_str().unwrap().to_string();
    let contact =
        hs.account().find("contacts", "email", "jane@example.com")[0]["hs_object_id"].as_str().unwrap().to_string();
    let assoc = hs.account().associations.clone();
    for link in [
        ("deals".to_string(), deal_id.clone(), "companies".to_string(), partner),
        ("deals".to_string(), deal_id.clone(), "contacts".to_string(), contact.clone()),
        ("contacts".to_string(), contact, "companies".to_string(), company),
    ] {
        assert!(assoc.contains(&link), "{link:?} in {assoc:?}");
    }
    // Closed won in HubSpot, at a new amount: the schedule's pull closes the deal in the portal.
    hs.account().clock = app.state.clock.now_ms() + 1_000;
    hs.account().edit("deals", &deal_id, fields(json!({"dealstage": "closedwon", "amount": 52000})));
    let ran = plugin_api(&app, "crm-hubspot", Method::POST, "/sync", None).await.json();
    assert_eq!(ran["pulled"], json!(1), "{ran}");
    deliver(&app).await;
    assert_eq!(deal_state(&app, &id).await, (json!("won"), json!(52000.0)));
    // The deal's own won event goes back to HubSpot as the same deal.
    deliver(&app).await;
    assert_eq!(hs.account().find("deals", "portal_deal_id", &id).len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dynamics_gets_each_approved_deal_once_and_its_close_comes_back() {
    use reqwest::Method;
    let d = FakeDynamics::start().await;
    let settings = json!({ "authority": d.base, "org_url": d.base, "tenant_id": fake_d365::TENANT,
        "client_id": fake_d365::CLIENT_ID, "conflict_policy": "crm_wins" });
    let secrets = [("client_secret", fake_d365::CLIENT_SECRET)];
    let app = portal_with(portico_tests::crm_dynamics(), settings, &secrets, 8_000).await;
    d.env().clock = app.state.clock.now_ms();
    // The default mapping fits the environment's schema; saving it keeps the organisation's status reasons.
    let m = plugin_api(&app, "crm-dynamics", Method::GET, "/mapping", None).await.json()["mapping"].clone();
    let saved = plugin_api(&app, "crm-dynamics", Method::PUT, "/mapping", Some(m)).await;
    assert_eq!(saved.status, reqwest::StatusCode::OK, "{}", saved.body);
    let id = approved_deal(&app, "Globex", "globex.com").await;
    deliver(&app).await;
    let found = d.env().find("opportunity", "portal_dealid", &json!(id));
    assert_eq!(found.len(), 1, "{:?}", d.env().calls);
    assert_eq!(found[0]["statuscode"], json!(1));
    let opp = found[0]["opportunityid"].as_str().unwrap().to_string();
    let account = d.env().find("account", "websiteurl", &json!("globex.com"))[0]["accountid"].clone();
    assert_eq!(found[0]["_parentaccountid_value"], account);
    // The contact is under the customer's account (a Customer-type lookup) and is the opportunity's contact; the
    // partner's account (by its alternate key) is linked through the custom lookup.
    let contact = d.env().find("contact", "emailaddress1", &json!("jane@example.com"));
    assert_eq!((contact.len(), contact[0]["_parentcustomerid_value"].clone()), (1, account.clone()));
    assert_eq!(found[0]["_parentcontactid_value"], contact[0]["contactid"]);
    let org_id = deal_json(&app, &id).await["org_id"].clone();
    let partner = d.env().find("account", "portal_orgid", &org_id);
    assert_eq!(found[0]["_portal_partneraccountid_value"], partner[0]["accountid"]);
    // Won in Dynamics: the pull closes the deal in the portal.
    d.env().clock = app.state.clock.now_ms() + 1_000;
    d.env().edit("opportunity", &opp, fields(json!({"statecode": 1, "statuscode": 3, "estimatedvalue": 30000})));
    let ran = plugin_api(&app, "crm-dynamics", Method::POST, "/sync", None).await.json();
    assert_eq!(ran["pulled"], json!(1), "{ran}");
    deliver(&app).await;
    assert_eq!(deal_state(&app, &id).await, (json!("won"), json!(30000.0)));
    // Lost in the portal: a second deal closed lost by the manager reaches Dynamics through LoseOpportunity.
    let second = approved_deal(&app, "Initech", "initech.com").await;
    deliver(&app).await;
    let manager = app.client().token("manager@acme.example", "portico-demo").await;
    let path = format!("/api/v1/p/deal-registration/deals/{second}/lost");
    let page = app.client().api(Method::POST, &path, Some(&manager), Some(json!({"reason": "budget cut"}))).await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    deliver(&app).await;
    let lost = d.env().find("opportunity", "portal_dealid", &json!(second));
    assert_eq!((lost.len(), lost[0]["statecode"].clone(), lost[0]["statuscode"].clone()), (1, json!(2), json!(5)));
    assert!(d.env().calls.iter().any(|c| c == "POST LoseOpportunity"));

    // An opportunity made in Dynamics, under its account, imported for the partner: the customer comes from the
    // account its lookup names (read as `_parentaccountid_value`), and the opportunity gets the portal's id by
    // its own id, not a second record.
    let imported = {
        let mut e = d.env();
        let acct = e.insert("account", fields(json!({"name": "Hooli", "websiteurl": "hooli.com"})));
        let opp = e.insert("opportunity", fields(json!({"name": "Hooli expansion", "estimatedvalue": 9000})));
        e.edit("opportunity", &opp, fields(json!({"parentaccountid@odata.bind": format!("/accounts({acct})")})));
        opp
    };
    let opportunities = d.env().records["opportunity"].len();
    let org_id = deal_json(&app, &id).await["org_id"].clone();
    let done =
        plugin_api(&app, "crm-dynamics", Method::POST, "/import", Some(json!({"org_id": org_id, "ids": [imported]})))
            .await
            .json();
    assert_eq!(done["queued"], json!(1), "{done}");
    deliver(&app).await;
    deliver(&app).await;
    let deal = deal_json(&app, &format!("crm-dynamics-{imported}")).await;
    assert_eq!(
        (deal["customer_name"].clone(), deal["registrable_domain"].clone()),
        (json!("Hooli"), json!("hooli.com")),
        "{deal}"
    );
    assert_eq!(d.env().records["opportunity"][&imported]["portal_dealid"], json!(format!("crm-dynamics-{imported}")));
    assert_eq!(d.env().records["opportunity"].len(), opportunities);
}

#[test]
fn the_connectors_share_one_sync_page() {
    // A package holds its own files (packaging skips symlinks), so each connector ships a copy of the engine's
    // page: plugins/crm-salesforce/templates/sync.html is the one to edit, and the others must match it.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../plugins");
    for file in ["sync.html", "widget_sync.html", "mapping.html", "import.html"] {
        let read = |p: &str| std::fs::read_to_string(root.join(p).join("templates").join(file)).unwrap();
        let source = read("crm-salesforce");
        for copy in ["crm-hubspot", "crm-dynamics"] {
            assert_eq!(read(copy), source, "plugins/{copy}/templates/{file} differs: copy crm-salesforce's");
        }
    }
}

/// A writer that keeps what the log says.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

// A subscriber on one thread misses what other threads' cached call-site interest hides from it, so this test
// installs the process's global subscriber (no other test does; tests that capture on their own thread still
// override it there) and reads everything logged at WARN and above while it runs, its own lines included.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_log() {
    use reqwest::Method;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("no other test sets the global subscriber");
    let sf = FakeSalesforce::start().await;
    let app = portal_with_salesforce(&sf, 8_000).await;
    let id = approved_deal(&app, "Globex", "globex.com").await;
    deliver(&app).await;
    assert_eq!(sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!(id)).len(), 1);
    crm_api(&app, Method::POST, "/sync", None).await;
    crm_api(&app, Method::POST, "/test", None).await;
    let sessions = sf.org().sessions.clone();
    // Failures are logged with their reasons, and still without a secret.
    sf.revoke();
    approved_deal(&app, "Initech", "initech.com").await;
    deliver(&app).await;
    crm_api(&app, Method::POST, "/sync", None).await;
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("the refresh token was revoked or has expired") && log.contains("plugin=crm-salesforce"),
        "the connector's failure line: {log}"
    );
    for secret in [fake::CLIENT_SECRET, fake::REFRESH_TOKEN].iter().copied().chain(sessions.iter().map(String::as_str))
    {
        assert!(!log.contains(secret), "a secret in the log");
    }
    assert!(!log.contains("00Dxx0000001gPL!AR"), "no access token in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_both_sides_changed_a_deal_the_programs_policy_decides() {
    use reqwest::Method;
    let sf = FakeSalesforce::start().await;
    let app = portal_with_salesforce(&sf, 8_000).await;
    let manager = app.client().token("manager@acme.example", "portico-demo").await;
    let close = |id: String, outcome: &'static str| {
        let app = &app;
        let manager = manager.clone();
        async move {
            let path = format!("/api/v1/p/deal-registration/deals/{id}/{outcome}");
            let page = app.client().api(Method::POST, &path, Some(&manager), Some(json!({"reason": "test"}))).await;
            assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
        }
    };
    let opportunity = |id: &str| sf.org().find("Opportunity", "Partner_Deal_Id__c", &json!(id))[0].clone();
    let set_policy = |policy: &'static str| {
        let app = &app;
        let base = sf.base.clone();
        async move {
            let tenant = app.tenant_id("acme").await;
            let scope = app.state.db.tenant(&tenant);
            let program = scope.program_by_key("reseller").await.unwrap();
            let settings = json!({ "login_url": base, "client_id": fake::CLIENT_ID, "conflict_policy": policy });
            scope.set_plugin_settings("crm-salesforce", &program.id, &settings.to_string()).await.unwrap();
        }
    };

    // The CRM wins (the default): Salesforce raised the amount and marked it lost, the portal marked it won. The
    // write of "won" leaves both of Salesforce's changes alone, and the portal takes the amount (a closed deal
    // keeps its status: the CRM cannot reopen it).
    let a = approved_deal(&app, "Globex", "globex.com").await;
    deliver(&app).await;
    let opp = opportunity(&a)["Id"].as_str().unwrap().to_string();
    sf.org().edit("Opportunity", &opp, fields(json!({"StageName": "Closed Lost", "Amount": 25000})));
    close(a.clone(), "won").await;
    deliver(&app).await;
    deliver(&app).await;
    assert_eq!(
        (opportunity(&a)["StageName"].clone(), opportunity(&a)["Amount"].clone()),
        (json!("Closed Lost"), json!(25000))
    );
    assert_eq!(deal_state(&app, &a).await, (json!("won"), json!(25000.0)));

    // The portal wins: the same race ends with Salesforce showing the portal's "won".
    set_policy("portal_wins").await;
    let b = approved_deal(&app, "Initech", "initech.com").await;
    deliver(&app).await;
    let opp = opportunity(&b)["Id"].as_str().unwrap().to_string();
    sf.org().edit("Opportunity", &opp, fields(json!({"StageName": "Closed Lost"})));
    close(b.clone(), "won").await;
    deliver(&app).await;
    assert_eq!(opportunity(&b)["StageName"], json!("Closed Won"));
    assert_eq!(deal_state(&app, &b).await.0, json!("won"));

    // The newer change wins: Salesforce's edit, stamped after the portal's, is kept.
    set_policy("newer_wins").await;
    let c = approved_deal(&app, "Umbrella", "umbrella.com").await;
    deliver(&app).await;
    let opp = opportunity(&c)["Id"].as_str().unwrap().to_string();
    close(c.clone(), "lost").await;
    sf.org().clock = app.state.clock.now_ms() + 60_000;
    sf.org().edit("Opportunity", &opp, fields(json!({"StageName": "Closed Won"})));
    deliver(&app).await;
    assert_eq!(opportunity(&c)["StageName"], json!("Closed Won"), "Salesforce's later edit stands");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_thousand_changes_are_pulled_across_pages_and_runs_none_missed_or_doubled() {
    use reqwest::Method;
    let sf = FakeSalesforce::start().await;
    let app = portal_with_salesforce(&sf, 8_000).await;
    sf.org().page_size = 300;
    portico_tests::crm::seed_synced_salesforce(&app, &sf, 2_000).await;
    // Each run applies at most APPLIED_PER_RUN and resumes where it stopped.
    let mut runs = 0;
    let mut applied = 0;
    loop {
        let ran = crm_api(&app, Method::POST, "/sync", None).await.json();
        runs += 1;
        let pulled = ran["pulled"].as_u64().unwrap();
        applied += pulled;
        if pulled == 0 || runs > 10 {
            break;
        }
    }
    assert_eq!(applied, 2_000, "after {runs} runs");
    assert!(runs >= 4, "the per-run budget was kept: {runs} runs");
    let events: Vec<String> = {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(&app.test_db.url).await.unwrap();
        sqlx::query_scalar("SELECT payload FROM events WHERE topic = 'crm.deal.changed'")
            .fetch_all(&pool)
            .await
            .unwrap()
    };
    let deals: BTreeSet<String> = events
        .iter()
        .map(|p| serde_json::from_str::<Value>(p).unwrap()["deal_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!((events.len(), deals.len()), (2_000, 2_000), "each change published once");
    // Nothing more to pull.
    assert_eq!(crm_api(&app, Method::POST, "/sync", None).await.json()["pulled"], json!(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opportunities_are_imported_as_deals_of_a_chosen_partner_once() {
    use reqwest::{Method, StatusCode};
    let sf = FakeSalesforce::start().await;
    let app = portal_with_salesforce(&sf, 8_000).await;
    let synced = approved_deal(&app, "Globex", "globex.com").await;
    deliver(&app).await;
    let northwind = deal_json(&app, &synced).await["org_id"].as_str().unwrap().to_string();
    // Opportunities made in Salesforce: an open one under its account, and a closed-won one without an account.
    let (open, won) = {
        let mut org = sf.org();
        let acct = org.insert(
            "Account",
            fields(json!({"Name": "Hooli", "Website": "https://www.hooli.com", "BillingCountry": "US"})),
        );
        let open = org.insert(
            "Opportunity",
            fields(json!({"Name": "Hooli — 40 routers", "Amount": 64000, "CloseDate": "2027-05-31",
                          "StageName": "Needs Analysis", "AccountId": acct})),
        );
        let won = org.insert(
            "Opportunity",
            fields(json!({"Name": "Massive Dynamic renewal", "Amount": 12000, "CloseDate": "2026-11-30",
                          "StageName": "Closed Won"})),
        );
        (open, won)
    };
    let opportunities = sf.org().records["Opportunity"].len();

    // On offer: the two, not the one a portal deal is synced to; each with what it comes in as.
    let offered = plugin_api(&app, "crm-salesforce", Method::GET, "/import", None).await.json();
    let ids: Vec<&str> =
        offered["candidates"].as_array().unwrap().iter().map(|c| c["crm_id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![won.as_str(), open.as_str()], "{offered}");
    assert_eq!(offered["candidates"][0]["status"], json!("won"));
    assert_eq!(offered["candidates"][1]["status"], json!("approved"), "a stage the portal does not follow is open");

    // A partner must be chosen; an unknown opportunity is reported, the others imported.
    let bad =
        plugin_api(&app, "crm-salesforce", Method::POST, "/import", Some(json!({"org_id": "nope", "ids": [open]})))
            .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
    assert_eq!(bad.json()["error"]["field"], json!("org_id"), "{}", bad.body);
    let missing = "006000000000000999";
    let body = json!({"org_id": northwind, "ids": [open, won, missing]});
    let done = plugin_api(&app, "crm-salesforce", Method::POST, "/import", Some(body.clone())).await.json();
    assert_eq!(done["queued"], json!(2), "{done}");
    assert_eq!(done["skipped"][0]["crm_id"], json!(missing));
    deliver(&app).await;
    deliver(&app).await;

    // Deals of Northwind: the open one approved and protected, with the account's name, domain and country; the
    // won one won. Deal registration made them; the connector linked them to their opportunities.
    let open_deal = deal_json(&app, &format!("crm-salesforce-{open}")).await;
    assert_eq!(
        [
            &open_deal["status"],
            &open_deal["org_id"],
            &open_deal["customer_name"],
            &open_deal["registrable_domain"],
            &open_deal["country"],
            &open_deal["amount"]
        ],
        [&json!("approved"), &json!(northwind), &json!("Hooli"), &json!("hooli.com"), &json!("US"), &json!(64000.0)],
        "{open_deal}"
    );
    assert_eq!(open_deal["crm_origin"]["id"], json!(open));
    let won_deal = deal_json(&app, &format!("crm-salesforce-{won}")).await;
    assert_eq!(
        (won_deal["status"].clone(), won_deal["customer_name"].clone()),
        (json!("won"), json!("Massive Dynamic renewal"))
    );
    // No opportunity was created: the imported ones now carry the portal's id and the partner's account.
    assert_eq!(sf.org().records["Opportunity"].len(), opportunities);
    let rec = sf.org().records["Opportunity"][&open].clone();
    assert_eq!(rec["Partner_Deal_Id__c"], json!(format!("crm-salesforce-{open}")), "{rec:?}");
    let partner = sf.org().find("Account", "Portal_Org_Id__c", &json!(northwind));
    assert_eq!(rec["PartnerAccountId"], partner[0]["Id"]);
    assert_eq!(rec["StageName"], json!("Needs Analysis"), "the CRM's own stage is left as it is");
    assert_eq!(sf.org().records["Contact"].len(), 1, "an imported opportunity keeps its own contacts");

    // Importing again changes nothing.
    let again = plugin_api(&app, "crm-salesforce", Method::POST, "/import", Some(body)).await.json();
    assert_eq!(again["queued"], json!(0), "{again}");
    assert!(again["skipped"].to_string().contains("already in the portal"), "{again}");
    assert!(
        plugin_api(&app, "crm-salesforce", Method::GET, "/import", None).await.json()["candidates"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // The imported deal follows its opportunity: lost in Salesforce, lost in the portal.
    sf.org().clock = app.state.clock.now_ms() + 1_000;
    sf.org().edit("Opportunity", &open, fields(json!({"StageName": "Closed Lost"})));
    assert_eq!(crm_api(&app, Method::POST, "/sync", None).await.json()["pulled"], json!(1));
    deliver(&app).await;
    assert_eq!(deal_state(&app, &format!("crm-salesforce-{open}")).await.0, json!("lost"));

    // The page: a partner to choose, and what was not imported in words.
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let page = admin.get("/p/crm-salesforce/import").await;
    assert!(
        page.body.contains("Northwind Solutions") && page.body.contains("is in the portal already"),
        "{}",
        page.body
    );
    let posted = admin.post("/p/crm-salesforce/import", &[("org_id", ""), ("ids", &open)]).await;
    assert!(posted.body.contains("choose a partner organisation"), "{}", posted.body);
    // Partners may not import.
    let bob = app.client().token("bob@northwind.example", "portico-demo").await;
    let denied = app
        .client()
        .api(
            Method::POST,
            "/api/v1/p/crm-salesforce/import",
            Some(&bob),
            Some(json!({"org_id": northwind, "ids": [won]})),
        )
        .await;
    assert_eq!(denied.status, StatusCode::FORBIDDEN, "{}", denied.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mapping_editor_offers_the_crms_fields_and_refuses_what_does_not_fit_at_the_field() {
    use reqwest::Method;
    let sf = FakeSalesforce::start().await;
    let app = portal_with_salesforce(&sf, 8_000).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let page = admin.get("/p/crm-salesforce/mapping").await;
    assert_eq!(page.status, reqwest::StatusCode::OK, "{}", page.body);
    // Salesforce's own fields, custom ones marked; read-only and incompatible ones are not offered.
    let body = &page.body;
    assert!(body.contains(r#"<select id="f-deal.amount" name="deal.amount">"#), "{body}");
    assert!(body.contains("Products (Products__c) · custom"), "{body}");
    let amount_select = &body[body.find(r#"name="deal.amount""#).unwrap()..];
    let amount_select = &amount_select[..amount_select.find("</select>").unwrap()];
    assert!(
        amount_select.contains(r#"value="Amount" selected="""#) && !amount_select.contains("CloseDate"),
        "{amount_select}"
    );
    assert!(!body.contains(r#"value="IsWon""#), "read-only fields are not offered");
    assert!(body.contains("Needs Analysis"), "the stages come from the picklist");

    // A crafted form: a read-only field and the required close date left out. Nothing saved; each problem at
    // its field; the choices kept.
    let mut form = vec![
        ("deal.object", "Opportunity"),
        ("deal.external_id", "Partner_Deal_Id__c"),
        ("deal.name", "Name"),
        ("deal.amount", "Amount"),
        ("deal.stage", "StageName"),
        ("deal.notes", "IsWon"),
        ("deal.customer_account", "AccountId"),
        ("customer.enabled", "on"),
        ("customer.object", "Account"),
        ("customer.name", "Name"),
        ("customer.domain", "Website"),
        ("stage.0.value", "Qualification"),
        ("stage.0.status", "approved"),
        ("stage.1.value", "Closed Won"),
        ("stage.1.status", "won"),
        ("stage.2.value", "Closed Lost"),
        ("stage.2.status", "lost"),
    ];
    let refused = admin.post("/p/crm-salesforce/mapping", &form).await;
    let body = &refused.body;
    assert!(body.contains("Not saved: correct the fields marked below."), "{body}");
    assert!(body.contains(r#"<p class="error" id="e-deal.notes">IsWon is read-only in Salesforce;"#), "{body}");
    assert!(body.contains("Close Date (CloseDate) is required by Salesforce and not mapped"), "{body}");
    assert!(body.contains(r#"value="IsWon" selected="""#), "the admin's choice is kept to be corrected");
    assert_eq!(crm_api(&app, Method::GET, "/mapping", None).await.json()["saved"], json!(false));

    // Corrected: the notes go to the custom field, the close date is mapped, and "Needs Analysis" means approved
    // too. Saved, and in force.
    form.retain(|(k, _)| *k != "deal.notes");
    form.extend([
        ("deal.notes", "Products__c"),
        ("deal.close_date", "CloseDate"),
        ("stage.3.value", "Needs Analysis"),
        ("stage.3.status", "approved"),
    ]);
    let saved = admin.post("/p/crm-salesforce/mapping", &form).await;
    assert!(saved.body.contains("Mapping saved"), "{}", saved.body);
    let m = crm_api(&app, Method::GET, "/mapping", None).await.json();
    assert_eq!(m["saved"], json!(true));
    let deal_fields = m["mapping"]["objects"][0]["fields"].to_string();
    assert!(deal_fields.contains(r#"["notes","Products__c"]"#), "{deal_fields}");
    assert!(m["mapping"]["stages"].to_string().contains(r#"["Needs Analysis","approved"]"#));
    assert_eq!(m["mapping"]["objects"].as_array().unwrap().len(), 2, "partner accounts and contacts were turned off");
    // A partner may not open it.
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    assert_eq!(bob.get("/p/crm-salesforce/mapping").await.status, reqwest::StatusCode::FORBIDDEN);
}
