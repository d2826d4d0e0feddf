//! The weekly digest: due from Monday 07:00 in the tenant's time zone, once per person and week, to partner admins
//! (their own organisation's figures and timeline) and channel managers (the tenant's totals), not to those who
//! opted out on the account page or by the one-click unsubscribe link, which works without a session and on its
//! own tenant only.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, TimeDelta};
use portico::domain::{ListQuery, OrgKind, OrgProfile, Role, UserStatus};
use portico::storage::analytics::{CountKey, add_counts, add_timeline};
use portico_tests::{DbKind, TestApp, spawn_app};
use reqwest::StatusCode;

const HOUR: i64 = 3_600_000;
/// Tokyo keeps UTC+9 all year: its Monday 08:00 is Sunday 23:00 in UTC.
const TOKYO: i64 = 9 * HOUR;

/// The UTC instant of `hour`:00 on `date` in Tokyo.
fn tokyo(date: NaiveDate, hour: u32) -> i64 {
    date.and_hms_opt(hour, 0, 0).unwrap().and_utc().timestamp_millis() - TOKYO
}

/// Sets the app's clock to `at`.
fn set_clock(app: &TestApp, at: i64) {
    app.state.clock.advance(at - app.state.clock.now_ms());
}

async fn user_id(app: &TestApp, email: &str) -> String {
    app.demo_user(email).await.id
}

/// Adds `value` to a host figure of `org` on `day`.
async fn count(app: &TestApp, tenant: &str, metric: &str, org: &str, day: NaiveDate, value: i64) {
    let mut conn = app.state.db.acquire().await.unwrap();
    let key = CountKey { metric: metric.into(), org_id: Some(org.into()), unit: String::new() };
    let counts: BTreeMap<CountKey, i64> = [(key, value)].into_iter().collect();
    add_counts(&mut conn, tenant, portico::analytics::day(day), &counts).await.unwrap();
}

/// The weekly digests recorded for `to`, newest first.
async fn digests_to(app: &TestApp, tenant: &str, to: &str) -> Vec<portico::storage::MailRecord> {
    let page = app.state.db.tenant(tenant).list_mail(&ListQuery { q: to.into(), page: None }).await.unwrap();
    page.items.into_iter().filter(|m| m.to_addr == to && m.subject.contains("weekly digest")).collect()
}

/// A kept mail's headers, unfolded.
fn kept_headers(app: &TestApp, tenant: &str, mail_id: &str) -> String {
    let eml = std::fs::read_to_string(app.data_dir.join("mail").join(tenant).join(format!("{mail_id}.eml"))).unwrap();
    let head = eml.split("\r\n\r\n").next().unwrap().to_string();
    head.replace("\r\n ", " ").replace("\r\n\t", " ")
}

async fn digest_once_a_week_to_those_who_want_it(kind: DbKind) {
    let app = spawn_app(kind).await;
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    let mut conn = app.state.db.acquire().await.unwrap();
    sqlx::query("UPDATE tenants SET timezone = 'Asia/Tokyo' WHERE id = $1")
        .bind(&tenant)
        .execute(&mut *conn)
        .await
        .unwrap();
    drop(conn);
    let (northwind, fabrikam, contoso) = (
        app.demo_user("alice@northwind.example").await.org_id,
        app.demo_user("carol@fabrikam.example").await.org_id,
        app.demo_user("dave@contoso.example").await.org_id,
    );
    // A partner organisation with nothing going on, and its admin.
    let initech =
        scope.create_org(OrgKind::Partner, &OrgProfile { name: "Initech".into(), ..Default::default() }).await.unwrap();
    scope
        .create_user(&portico::storage::NewUser {
            org_id: initech.id.clone(),
            email: "ivan@initech.example".into(),
            name: "Ivan Initech".into(),
            role: Role::PartnerAdmin,
            status: UserStatus::Active,
            password_hash: None,
        })
        .await
        .unwrap();

    // The Monday four weeks on (in Tokyo), well clear of the sign-ins this test's own requests count today.
    let today = (chrono::Utc::now() + TimeDelta::hours(9)).date_naive();
    let monday = today - chrono::Days::new(u64::from(today.weekday().num_days_from_monday())) + chrono::Days::new(28);
    let (last_week, week_before) = (monday - chrono::Days::new(7), monday - chrono::Days::new(14));
    let wednesday = last_week + chrono::Days::new(2);
    use portico::analytics::{PROMOTIONS, SIGN_INS};
    count(&app, &tenant, SIGN_INS, &northwind, wednesday, 12).await;
    count(&app, &tenant, SIGN_INS, &northwind, week_before + chrono::Days::new(6), 10).await;
    count(&app, &tenant, SIGN_INS, &fabrikam, last_week, 7).await;
    count(&app, &tenant, PROMOTIONS, &fabrikam, monday - chrono::Days::new(1), 3).await;
    count(&app, &tenant, SIGN_INS, &contoso, wednesday, 5).await;
    // Counted on the Monday itself: this week's, not the digest's.
    count(&app, &tenant, SIGN_INS, &northwind, monday, 500).await;
    {
        let mut conn = app.state.db.acquire().await.unwrap();
        let at = tokyo(wednesday, 10);
        add_timeline(&mut conn, &tenant, &northwind, at, "deals", "Deal Tyrell Corp approved", Some("/p/deals/1"))
            .await
            .unwrap();
        add_timeline(&mut conn, &tenant, &fabrikam, at, "portico", "Fabrikam moved to Gold", None).await.unwrap();
        // Sunday 23:30 in Tokyo is last week's; Monday 00:30 is not.
        add_timeline(&mut conn, &tenant, &northwind, tokyo(monday, 0) - HOUR / 2, "deals", "Late Sunday deal", None)
            .await
            .unwrap();
        add_timeline(&mut conn, &tenant, &northwind, tokyo(monday, 0) + HOUR / 2, "deals", "Monday deal", None)
            .await
            .unwrap();
    }

    // Dave turns the digest off on his account page; a partner user is not offered it.
    let mut dave = app.client();
    dave.login_ok("dave@contoso.example").await;
    let page = dave.get("/account").await;
    assert!(page.body.contains("Email me a weekly digest"), "{}", page.body);
    assert!(page.body.contains(r#"name="digest" checked"#), "on by default");
    let page = dave.post("/account/digest", &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location(), Some("/account?flash=saved"));
    let page = dave.get("/account?flash=saved").await;
    assert!(page.body.contains("Your changes were saved."));
    assert!(!page.body.contains(r#"name="digest" checked"#), "now off");
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    assert!(!bob.get("/account").await.body.contains("Email me a weekly digest"));
    assert_eq!(bob.post("/account/digest", &[("digest", "on")]).await.status, StatusCode::NOT_FOUND);
    let mut carol = app.client();
    carol.login_ok("carol@fabrikam.example").await;
    assert_eq!(carol.post("/account/digest", &[("digest", "on")]).await.status, StatusCode::SEE_OTHER);

    // Monday 06:30 in Tokyo: not yet. 08:00: once, however often the workers look.
    set_clock(&app, tokyo(monday, 6) + HOUR / 2);
    assert_eq!(portico::digest::send_due(&app.state, app.state.clock.now_ms()).await.unwrap(), 0);
    set_clock(&app, tokyo(monday, 8));
    assert_eq!(portico::digest::send_due(&app.state, app.state.clock.now_ms()).await.unwrap(), 3);
    assert_eq!(portico::digest::send_due(&app.state, app.state.clock.now_ms()).await.unwrap(), 0);
    for (who, n) in [
        ("alice@northwind.example", 1),
        ("carol@fabrikam.example", 1),
        ("manager@acme.example", 1),
        // Opted out.
        ("dave@contoso.example", 0),
        // Nothing happened at Initech: no empty digest.
        ("ivan@initech.example", 0),
        // Neither a partner user nor a vendor admin gets one.
        ("bob@northwind.example", 0),
        ("admin@acme.example", 0),
    ] {
        assert_eq!(digests_to(&app, &tenant, who).await.len(), n, "digests to {who}");
    }

    // A partner admin reads their own organisation's week, nothing of another's.
    let alice = &digests_to(&app, &tenant, "alice@northwind.example").await[0];
    let body = &alice.body;
    assert!(body.contains("Sign-ins: 12 (+20% on the week before)"), "{body}");
    assert!(body.contains("Deal Tyrell Corp approved"), "{body}");
    assert!(body.contains("/p/deals/1"), "{body}");
    assert!(body.contains("Late Sunday deal"), "{body}");
    for absent in ["Monday deal", "Fabrikam", "Tier promotions", "Contoso", "Sign-ins: 5", "Sign-ins: 24"] {
        assert!(!body.contains(absent), "{absent:?} in {body}");
    }
    let carols = &digests_to(&app, &tenant, "carol@fabrikam.example").await[0].body;
    assert!(carols.contains("Tier promotions: 3 (none the week before)"), "{carols}");
    assert!(carols.contains("Sign-ins: 7 (none the week before)"), "{carols}");
    assert!(carols.contains("Fabrikam moved to Gold") && !carols.contains("Tyrell"), "{carols}");
    // The channel manager reads the tenant's totals.
    let managers = &digests_to(&app, &tenant, "manager@acme.example").await[0].body;
    assert!(managers.contains("Sign-ins: 24 (+140% on the week before)"), "{managers}");
    assert!(managers.contains("Tier promotions: 3 (none the week before)"), "{managers}");
    assert!(body.contains("/unsubscribe/") && body.contains("\nSee the dashboard: http://"), "{body}");

    // The mail carries RFC 8058's headers, naming the link in its body.
    let token = regex::Regex::new(r"/unsubscribe/([A-Za-z0-9_.-]+)").unwrap().captures(body).unwrap()[1].to_string();
    let headers = kept_headers(&app, &tenant, &alice.id);
    assert!(headers.contains(&format!("List-Unsubscribe: <http://127.0.0.1:8080/unsubscribe/{token}>")), "{headers}");
    assert!(headers.contains("List-Unsubscribe-Post: List-Unsubscribe=One-Click"), "{headers}");

    // The link works without a session; looking does not unsubscribe (mail scanners open links).
    let mut anonymous = app.client();
    let page = anonymous.get(&format!("/unsubscribe/{token}")).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("alice@northwind.example") && page.body.contains(">Unsubscribe</button>"));
    assert!(!scope.digest_opted_out(&user_id(&app, "alice@northwind.example").await).await.unwrap());
    // A forged token, or the right one on another tenant's portal, is not found and names nobody.
    let (user, mac) = token.split_once('.').unwrap();
    let flipped = if mac.starts_with('A') { mac.replacen('A', "B", 1) } else { format!("A{}", &mac[1..]) };
    for forged in [format!("{user}.{flipped}"), format!("{}.{mac}", user_id(&app, "carol@fabrikam.example").await)] {
        let page = anonymous.get(&format!("/unsubscribe/{forged}")).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{forged}");
        assert!(!page.body.contains("@fabrikam") && !page.body.contains("@northwind"));
        let page = anonymous.post_raw(&format!("/unsubscribe/{forged}"), &[("List-Unsubscribe", "One-Click")]).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND, "{forged}");
    }
    app.create_tenant("globex", "admin@globex.example", "correct horse battery").await;
    let mut elsewhere = app.client_for("globex.portico.test");
    assert_eq!(elsewhere.get(&format!("/unsubscribe/{token}")).await.status, StatusCode::NOT_FOUND);
    let page = elsewhere.post_raw(&format!("/unsubscribe/{token}"), &[("List-Unsubscribe", "One-Click")]).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(!scope.digest_opted_out(&user_id(&app, "alice@northwind.example").await).await.unwrap());

    // The one-click POST, as a mail client sends it: no session, no form token.
    let page = anonymous.post_raw(&format!("/unsubscribe/{token}"), &[("List-Unsubscribe", "One-Click")]).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("You will no longer receive the weekly digest"), "{}", page.body);
    assert!(page.body.contains(r#"href="/account""#));
    assert!(scope.digest_opted_out(&user_id(&app, "alice@northwind.example").await).await.unwrap());

    // A week on: one more each, and none to Alice.
    set_clock(&app, tokyo(monday + chrono::Days::new(7), 8));
    assert_eq!(portico::digest::send_due(&app.state, app.state.clock.now_ms()).await.unwrap(), 2);
    assert_eq!(portico::digest::send_due(&app.state, app.state.clock.now_ms()).await.unwrap(), 0);
    assert_eq!(digests_to(&app, &tenant, "alice@northwind.example").await.len(), 1);
    assert_eq!(digests_to(&app, &tenant, "carol@fabrikam.example").await.len(), 2);
    assert_eq!(digests_to(&app, &tenant, "manager@acme.example").await.len(), 2);
    let carols = &digests_to(&app, &tenant, "carol@fabrikam.example").await[0].body;
    assert!(carols.contains("Sign-ins: 0 (-100% on the week before)"), "{carols}");

    // Weeks with nothing either side: the channel manager is told it was quiet; partners are not mailed.
    for weeks in [2, 3] {
        set_clock(&app, tokyo(monday + chrono::Days::new(7 * weeks), 8));
        portico::digest::send_due(&app.state, app.state.clock.now_ms()).await.unwrap();
    }
    assert_eq!(digests_to(&app, &tenant, "carol@fabrikam.example").await.len(), 2);
    let managers = digests_to(&app, &tenant, "manager@acme.example").await;
    assert_eq!(managers.len(), 4);
    assert!(managers[0].body.contains("It was a quiet week"), "{}", managers[0].body);
    assert!(managers[1].body.contains("Sign-ins: 0 (-100% on the week before)"), "{}", managers[1].body);

    // Alice turns it back on from her account page.
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    assert!(!alice.get("/account").await.body.contains(r#"name="digest" checked"#));
    assert_eq!(alice.post("/account/digest", &[("digest", "on")]).await.status, StatusCode::SEE_OTHER);
    assert!(!scope.digest_opted_out(&user_id(&app, "alice@northwind.example").await).await.unwrap());
}

#[tokio::test]
async fn digest_once_a_week_to_those_who_want_it_on_sqlite() {
    digest_once_a_week_to_those_who_want_it(DbKind::Sqlite).await;
}

#[tokio::test]
async fn digest_once_a_week_to_those_who_want_it_on_postgres() {
    digest_once_a_week_to_those_who_want_it(DbKind::Postgres).await;
}
