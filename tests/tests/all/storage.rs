//! The storage layer behaves the same on SQLite and PostgreSQL: every test here runs on both.

use portico::domain::{ListQuery, OrgKind, OrgProfile, Role, UserStatus, now_millis};
use portico::storage::{AuthTokenPurpose, NewTenant, NewUser, StorageError, TierMove};
use portico_tests::{DbKind, TestDb, spawn_app};
use reqwest::StatusCode;

/// Runs an async test body once on SQLite and once on PostgreSQL.
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test]
            async fn on_sqlite() {
                ($body)(TestDb::new(DbKind::Sqlite).await).await;
            }
            #[tokio::test]
            async fn on_postgres() {
                ($body)(TestDb::new(DbKind::Postgres).await).await;
            }
        }
    };
}

async fn tenant_with_org(t: &TestDb, slug: &str) -> (String, String) {
    let tenant = t.db.create_tenant(&NewTenant { slug: slug.into(), name: slug.into(), domain: None }).await.unwrap();
    let org =
        t.db.tenant(&tenant.id)
            .create_org(OrgKind::Partner, &OrgProfile { name: "Same Name".into(), ..Default::default() })
            .await
            .unwrap();
    (tenant.id, org.id)
}

fn new_user(org: &str, email: &str) -> NewUser {
    NewUser {
        org_id: org.into(),
        email: email.into(),
        name: "U".into(),
        role: Role::PartnerUser,
        status: UserStatus::Active,
        password_hash: None,
    }
}

both!(tenant_scope_hides_other_tenants_rows, |t: TestDb| async move {
    let (a, org_a) = tenant_with_org(&t, "aaa").await;
    let (b, org_b) = tenant_with_org(&t, "bbb").await;
    let ua = t.db.tenant(&a).create_user(&new_user(&org_a, "same@x.example")).await.unwrap();
    let ub = t.db.tenant(&b).create_user(&new_user(&org_b, "same@x.example")).await.unwrap();
    assert_ne!(ua.id, ub.id);
    assert!(t.db.tenant(&b).user(&ua.id).await.unwrap().is_none());
    assert!(t.db.tenant(&b).org(&org_a).await.unwrap().is_none());
    assert_eq!(t.db.tenant(&a).list_users(None, &ListQuery::default()).await.unwrap().total, 1);
    // Writes through the wrong scope touch nothing.
    assert!(matches!(t.db.tenant(&b).set_user_role(&ua.id, Role::PartnerAdmin).await, Err(StorageError::NotFound)));
    assert!(matches!(
        t.db.tenant(&b).update_org_profile(&org_a, &OrgProfile { name: "X".into(), ..Default::default() }).await,
        Err(StorageError::NotFound)
    ));
    assert!(matches!(t.db.tenant(&b).enrol(&org_a, "p", "t").await, Err(StorageError::NotFound)));
});

both!(unique_rules_report_conflicts, |t: TestDb| async move {
    let (a, org) = tenant_with_org(&t, "aaa").await;
    let s = t.db.tenant(&a);
    s.create_user(&new_user(&org, "Dup@X.example")).await.unwrap();
    assert!(
        matches!(s.create_user(&new_user(&org, "dup@x.example ")).await, Err(StorageError::Conflict(_))),
        "emails are case-insensitive"
    );
    assert!(matches!(
        s.create_org(OrgKind::Partner, &OrgProfile { name: "Same Name".into(), ..Default::default() }).await,
        Err(StorageError::Conflict(_))
    ));
    assert!(matches!(
        t.db.create_tenant(&NewTenant { slug: "aaa".into(), name: "again".into(), domain: None }).await,
        Err(StorageError::Conflict(_))
    ));
});

both!(search_and_paging_escape_wildcards, |t: TestDb| async move {
    let (a, _) = tenant_with_org(&t, "aaa").await;
    let s = t.db.tenant(&a);
    for name in ["100% Partners", "Under_score Ltd", "Plain Co"] {
        s.create_org(OrgKind::Partner, &OrgProfile { name: name.into(), ..Default::default() }).await.unwrap();
    }
    let q = |q: &str| ListQuery { q: q.into(), page: None };
    assert_eq!(s.list_partner_orgs(&q("%")).await.unwrap().total, 1);
    assert_eq!(s.list_partner_orgs(&q("_")).await.unwrap().total, 1);
    assert_eq!(s.list_partner_orgs(&q("PLAIN")).await.unwrap().total, 1);
    assert_eq!(s.list_partner_orgs(&q("")).await.unwrap().total, 4);
    let p2 = s.list_partner_orgs(&ListQuery { q: String::new(), page: Some(2) }).await.unwrap();
    assert!(p2.items.is_empty());
    assert_eq!(p2.total, 4);
});

both!(tiers_keep_their_order_when_moved, |t: TestDb| async move {
    let (a, org) = tenant_with_org(&t, "aaa").await;
    let s = t.db.tenant(&a);
    let tiers = vec![("a".to_string(), "A".to_string()), ("b".into(), "B".into()), ("c".into(), "C".into())];
    let p = s.create_program("prog", "Prog", "", &tiers).await.unwrap();
    let a_id = p.tiers[0].id.clone();
    s.move_tier(&p.id, &a_id, TierMove::Up).await.unwrap();
    let names: Vec<_> = s.tiers(&p.id).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["B", "A", "C"]);
    s.move_tier(&p.id, &p.tiers[2].id, TierMove::Up).await.unwrap();
    let names: Vec<_> = s.tiers(&p.id).await.unwrap().into_iter().map(|t| t.name).collect();
    assert_eq!(names, ["B", "A", "C"], "the top tier cannot move up");
    let d = s.add_tier(&p.id, "d", "D").await.unwrap();
    assert_eq!(d.rank, 4);
    s.enrol(&org, &p.id, &d.id).await.unwrap();
    s.enrol(&org, &p.id, &a_id).await.unwrap();
    let e = s.enrolments_of_org(&org).await.unwrap();
    assert_eq!(e.len(), 1, "re-enrolling moves the tier");
    assert_eq!(e[0].tier_name, "A");
});

both!(a_single_use_token_is_redeemed_once_even_concurrently, |t: TestDb| async move {
    let (a, org) = tenant_with_org(&t, "aaa").await;
    let s = t.db.tenant(&a);
    let u = s.create_user(&NewUser { status: UserStatus::Invited, ..new_user(&org, "inv@x.example") }).await.unwrap();
    s.create_auth_token(&u.id, AuthTokenPurpose::Invite, "hash1", now_millis() + 60_000).await.unwrap();
    assert!(s.peek_auth_token(AuthTokenPurpose::Reset, "hash1").await.unwrap().is_none(), "purposes do not mix");
    let db = t.db.clone();
    let attempts = (0..8).map(|_| {
        let db = db.clone();
        let a = a.clone();
        tokio::spawn(async move { db.tenant(&a).redeem_auth_token(AuthTokenPurpose::Invite, "hash1", "phc").await })
    });
    let results = futures_join(attempts).await;
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert_eq!(s.user(&u.id).await.unwrap().unwrap().status, UserStatus::Active);
    // An expired token fails.
    s.create_auth_token(&u.id, AuthTokenPurpose::Reset, "hash2", now_millis() - 1).await.unwrap();
    assert!(matches!(s.redeem_auth_token(AuthTokenPurpose::Reset, "hash2", "phc").await, Err(StorageError::NotFound)));
});

async fn futures_join<T: Send + 'static>(handles: impl Iterator<Item = tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

both!(login_failures_lock_after_the_limit_and_clear, |t: TestDb| async move {
    let (a, _) = tenant_with_org(&t, "aaa").await;
    let s = t.db.tenant(&a);
    for _ in 0..2 {
        assert_eq!(s.record_login_failure("k", 3, 60_000).await.unwrap().locked_until, 0);
    }
    assert!(s.record_login_failure("k", 3, 60_000).await.unwrap().locked_until > now_millis());
    assert!(s.throttle_locked_until("k").await.unwrap().is_some());
    assert!(t.db.tenant("other").throttle_locked_until("k").await.unwrap().is_none(), "per tenant");
    s.clear_login_failures("k").await.unwrap();
    assert!(s.throttle_locked_until("k").await.unwrap().is_none());
});

both!(sessions_expire_and_die_with_the_password, |t: TestDb| async move {
    let (a, org) = tenant_with_org(&t, "aaa").await;
    let s = t.db.tenant(&a);
    let u = s.create_user(&new_user(&org, "s@x.example")).await.unwrap();
    s.create_session("live", &u.id, now_millis() + 60_000).await.unwrap();
    s.create_session("dead", &u.id, now_millis() - 1).await.unwrap();
    assert!(t.db.session("live").await.unwrap().is_some());
    assert!(t.db.session("dead").await.unwrap().is_none());
    assert_eq!(t.db.purge_expired().await.unwrap(), 1);
    s.set_password(&u.id, "new-phc").await.unwrap();
    assert!(t.db.session("live").await.unwrap().is_none());
});

both!(migrations_are_idempotent_and_host_settings_stick, |t: TestDb| async move {
    t.db.migrate().await.unwrap();
    let first = t.db.host_setting_or_init("k", || "one".into()).await.unwrap();
    let second = t.db.host_setting_or_init("k", || "two".into()).await.unwrap();
    assert_eq!((first.as_str(), second.as_str()), ("one", "one"));
});

#[tokio::test]
async fn the_whole_portal_works_on_postgres() {
    let app = spawn_app(DbKind::Postgres).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    admin.get("/admin/orgs/new").await;
    let page = admin.post("/admin/orgs/new", &[("name", "Postgres Partner")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert!(admin.get("/admin/orgs?q=postgres").await.body.contains("Postgres Partner"));
    let page = admin.post("/admin/programs", &[("name", "Distribution"), ("tiers", "Bronze, Silver")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    // Tiers renamed and removed from the program page; a refusal is shown on the tier it concerns.
    let program_path = page.location().unwrap().split('?').next().unwrap().to_string();
    let t = app.tenant_id("acme").await;
    let distribution = app.state.db.tenant(&t).program_by_key("distribution").await.unwrap();
    let (bronze, silver) = (&distribution.tiers[0].id, &distribution.tiers[1].id);
    let page = admin.post(&format!("{program_path}/tiers/{bronze}"), &[("name", "silver")]).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains(&format!("id=\"e-tier-{bronze}\"")), "the error sits on Bronze's form");
    let page = admin.post(&format!("{program_path}/tiers/{bronze}"), &[("name", "Copper")]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert!(admin.get(&program_path).await.body.contains("Copper"));
    assert_eq!(admin.post(&format!("{program_path}/tiers/{silver}/remove"), &[]).await.status, StatusCode::SEE_OTHER);
    let page = admin.post(&format!("{program_path}/tiers/{bronze}/remove"), &[]).await;
    assert_eq!(page.status, StatusCode::CONFLICT);
    assert!(page.body.contains("at least one tier"));
    let mut bob = app.client();
    for _ in 0..4 {
        assert_eq!(bob.login("bob@northwind.example", "wrong-password").await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(bob.login("bob@northwind.example", "wrong-password").await.status, StatusCode::TOO_MANY_REQUESTS);
    let token = app.client().token("alice@northwind.example", "portico-demo").await;
    let me = app.client().api(reqwest::Method::GET, "/api/v1/me", Some(&token), None).await;
    assert_eq!(me.json()["user"]["email"], "alice@northwind.example");
}

mod plugin_records {
    use super::*;
    use portico::storage::plugin_data::{self, Condition, IndexSpec, RecordQuery, RecordScope};
    use serde_json::json;

    fn scope(tenant: &str, org: Option<&str>) -> RecordScope {
        RecordScope { tenant_id: tenant.into(), plugin_id: "deals".into(), org: org.map(str::to_string) }
    }

    fn obj(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().unwrap().clone()
    }

    fn indexes() -> Vec<IndexSpec> {
        vec![
            IndexSpec { field: "domain".into(), unique: true },
            IndexSpec { field: "amount".into(), unique: false },
            IndexSpec { field: "status".into(), unique: false },
            IndexSpec { field: "products".into(), unique: false },
        ]
    }

    both!(records_scope_index_filter_and_page, |t: TestDb| async move {
        let (tenant, _) = tenant_with_org(&t, "aaa").await;
        let mut conn = t.db.acquire().await.unwrap();
        let all = scope(&tenant, None);
        let ix = indexes();
        for i in 0..30 {
            let org = if i % 2 == 0 { "org-a" } else { "org-b" };
            let data = obj(
                json!({"domain": format!("d{i:02}.example"), "amount": i * 100, "status": if i < 10 { "draft" } else { "submitted" }, "products": ["p1", format!("p{}", i % 3)]}),
            );
            plugin_data::insert(&mut conn, &all, "deals", None, Some(org), &data, &ix, 1000 + i).await.unwrap();
        }
        // Unique index.
        let dup = plugin_data::insert(
            &mut conn,
            &all,
            "deals",
            None,
            Some("org-a"),
            &obj(json!({"domain": "d00.example"})),
            &ix,
            5,
        )
        .await;
        assert!(matches!(dup, Err(StorageError::Conflict(_))), "{dup:?}");
        // Filters.
        let q = |filters: Vec<(String, Condition)>| RecordQuery {
            collection: "deals".into(),
            filters,
            order_by: None,
            limit: 100,
            cursor: None,
        };
        let n = |r: (Vec<plugin_data::PluginRecord>, Option<String>)| r.0.len();
        assert_eq!(
            n(plugin_data::query(&mut conn, &all, &q(vec![("status".into(), Condition::Eq(json!("draft")))]))
                .await
                .unwrap()),
            10
        );
        assert_eq!(
            n(plugin_data::query(
                &mut conn,
                &all,
                &q(vec![("amount".into(), Condition::Range(Some(json!(500)), Some(json!(1000))))])
            )
            .await
            .unwrap()),
            5
        );
        assert_eq!(
            n(plugin_data::query(&mut conn, &all, &q(vec![("domain".into(), Condition::Prefix("d1".into()))]))
                .await
                .unwrap()),
            10
        );
        assert_eq!(
            n(plugin_data::query(
                &mut conn,
                &all,
                &q(vec![(
                    "domain".into(),
                    Condition::In(vec![json!("d01.example"), json!("d02.example"), json!("zz")])
                )])
            )
            .await
            .unwrap()),
            2
        );
        // A long list (a recalculation asks for 500 partners' records at once), text and numbers mixed: one `IN`
        // per kind of value, where a chain of 2,000 `=` would be deeper than SQLite allows.
        let mut long: Vec<serde_json::Value> = (0..2_000).map(|i| json!(format!("d{i:02}.example"))).collect();
        long.push(json!(700));
        assert_eq!(
            n(plugin_data::query(&mut conn, &all, &q(vec![("domain".into(), Condition::In(long.clone()))]))
                .await
                .unwrap()),
            30
        );
        assert_eq!(
            n(plugin_data::query(&mut conn, &all, &q(vec![("amount".into(), Condition::In(long))])).await.unwrap()),
            1,
            "the number among the texts"
        );
        assert_eq!(
            n(plugin_data::query(&mut conn, &all, &q(vec![("products".into(), Condition::Eq(json!("p2")))]))
                .await
                .unwrap()),
            10,
            "array elements are indexed"
        );
        assert_eq!(
            plugin_data::count(
                &mut conn,
                &all,
                "deals",
                &[
                    ("status".into(), Condition::Eq(json!("submitted"))),
                    ("amount".into(), Condition::Range(None, Some(json!(1500))))
                ]
            )
            .await
            .unwrap(),
            5
        );
        // Org scope.
        let a = scope(&tenant, Some("org-a"));
        assert_eq!(plugin_data::count(&mut conn, &a, "deals", &[]).await.unwrap(), 15);
        let b_record =
            plugin_data::query(&mut conn, &scope(&tenant, Some("org-b")), &q(vec![])).await.unwrap().0.remove(0);
        assert!(plugin_data::get(&mut conn, &a, "deals", &b_record.id).await.unwrap().is_none());
        assert!(matches!(
            plugin_data::update(&mut conn, &a, "deals", &b_record.id, None, &obj(json!({})), &ix, 9).await,
            Err(StorageError::NotFound)
        ));
        assert!(!plugin_data::delete(&mut conn, &a, "deals", &b_record.id, None).await.unwrap());
        // Another tenant sees nothing.
        assert_eq!(plugin_data::count(&mut conn, &scope("other", None), "deals", &[]).await.unwrap(), 0);
        // Ordered paging with cursors, descending by amount.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = plugin_data::query(
                &mut conn,
                &all,
                &RecordQuery {
                    collection: "deals".into(),
                    filters: vec![],
                    order_by: Some(("amount".into(), true)),
                    limit: 7,
                    cursor: cursor.clone(),
                },
            )
            .await
            .unwrap();
            seen.extend(
                page.0
                    .iter()
                    .map(|r| serde_json::from_str::<serde_json::Value>(&r.data).unwrap()["amount"].as_i64().unwrap()),
            );
            cursor = page.1;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(seen, (0..30).rev().map(|i| i * 100).collect::<Vec<_>>());
    });

    both!(revisions_guard_concurrent_writes, |t: TestDb| async move {
        let (tenant, _) = tenant_with_org(&t, "aaa").await;
        let mut conn = t.db.acquire().await.unwrap();
        let s = scope(&tenant, None);
        let ix = indexes();
        let r = plugin_data::insert(
            &mut conn,
            &s,
            "deals",
            Some("deal-1"),
            None,
            &obj(json!({"domain": "a.example", "status": "draft"})),
            &ix,
            1,
        )
        .await
        .unwrap();
        assert_eq!(r.revision, 1);
        let r2 = plugin_data::update(
            &mut conn,
            &s,
            "deals",
            "deal-1",
            Some(1),
            &obj(json!({"domain": "b.example", "status": "submitted"})),
            &ix,
            2,
        )
        .await
        .unwrap();
        assert_eq!(r2.revision, 2);
        let stale = plugin_data::update(
            &mut conn,
            &s,
            "deals",
            "deal-1",
            Some(1),
            &obj(json!({"domain": "c.example"})),
            &ix,
            3,
        )
        .await;
        assert!(matches!(stale, Err(StorageError::Conflict(_))));
        // The old unique value is free again; the index follows the data.
        plugin_data::insert(&mut conn, &s, "deals", None, None, &obj(json!({"domain": "a.example"})), &ix, 4)
            .await
            .unwrap();
        let q = RecordQuery {
            collection: "deals".into(),
            filters: vec![("status".into(), Condition::Eq(json!("draft")))],
            order_by: None,
            limit: 10,
            cursor: None,
        };
        assert!(plugin_data::query(&mut conn, &s, &q).await.unwrap().0.is_empty());
        assert!(matches!(
            plugin_data::delete(&mut conn, &s, "deals", "deal-1", Some(1)).await,
            Err(StorageError::Conflict(_))
        ));
        assert!(plugin_data::delete(&mut conn, &s, "deals", "deal-1", Some(2)).await.unwrap());
        assert!(plugin_data::get(&mut conn, &s, "deals", "deal-1").await.unwrap().is_none());
    });

    both!(updates_rewrite_only_changed_index_rows_and_queries_follow, |t: TestDb| async move {
        let (tenant, _) = tenant_with_org(&t, "iii").await;
        let mut conn = t.db.acquire().await.unwrap();
        let s = scope(&tenant, None);
        let ix = indexes();
        let find = |field: &str, v: serde_json::Value| RecordQuery {
            collection: "deals".into(),
            filters: vec![(field.into(), Condition::Eq(v))],
            order_by: None,
            limit: 10,
            cursor: None,
        };
        let d = |v: serde_json::Value| obj(v);
        plugin_data::insert(
            &mut conn,
            &s,
            "deals",
            Some("x"),
            None,
            &d(json!({"domain": "x.example", "amount": 5, "status": "draft", "products": ["p1", "p2", "p2"]})),
            &ix,
            1,
        )
        .await
        .unwrap();
        plugin_data::insert(&mut conn, &s, "deals", Some("y"), None, &d(json!({"domain": "y.example"})), &ix, 1)
            .await
            .unwrap();
        // Status, one array element and the amount change; the domain (unique) stays.
        plugin_data::update(
            &mut conn,
            &s,
            "deals",
            "x",
            Some(1),
            &d(json!({"domain": "x.example", "amount": 7.5, "status": "submitted", "products": ["p2", "p3"]})),
            &ix,
            2,
        )
        .await
        .unwrap();
        let ids = |page: (Vec<portico::storage::plugin_data::PluginRecord>, Option<String>)| {
            page.0.into_iter().map(|r| r.id).collect::<Vec<_>>()
        };
        for (field, value, expect) in [
            ("status", json!("draft"), vec![]),
            ("status", json!("submitted"), vec!["x"]),
            ("products", json!("p1"), vec![]),
            ("products", json!("p2"), vec!["x"]),
            ("products", json!("p3"), vec!["x"]),
            ("amount", json!(5), vec![]),
            ("amount", json!(7.5), vec!["x"]),
            ("domain", json!("x.example"), vec!["x"]),
        ] {
            let got = ids(plugin_data::query(&mut conn, &s, &find(field, value.clone())).await.unwrap());
            assert_eq!(got, expect, "{field} = {value}");
        }
        // Taking another record's unique value is refused and changes nothing; giving one up frees it.
        let taken =
            plugin_data::update(&mut conn, &s, "deals", "x", None, &d(json!({"domain": "y.example"})), &ix, 3).await;
        assert!(matches!(taken, Err(StorageError::Conflict(_))), "{taken:?}");
        assert_eq!(
            ids(plugin_data::query(&mut conn, &s, &find("status", json!("submitted"))).await.unwrap()),
            vec!["x"]
        );
        plugin_data::update(&mut conn, &s, "deals", "y", None, &d(json!({"domain": "z.example"})), &ix, 4)
            .await
            .unwrap();
        plugin_data::update(&mut conn, &s, "deals", "x", None, &d(json!({"domain": "y.example"})), &ix, 5)
            .await
            .unwrap();
        assert_eq!(
            ids(plugin_data::query(&mut conn, &s, &find("domain", json!("y.example"))).await.unwrap()),
            vec!["x"]
        );
        assert!(ids(plugin_data::query(&mut conn, &s, &find("products", json!("p2"))).await.unwrap()).is_empty());
        // A taken id is a conflict, not a database error, and leaves the connection usable.
        let dup = plugin_data::insert(&mut conn, &s, "deals", Some("x"), None, &d(json!({})), &ix, 6).await;
        assert!(matches!(dup, Err(StorageError::Conflict(_))), "{dup:?}");
        assert!(plugin_data::get(&mut conn, &s, "deals", "x").await.unwrap().is_some());
    });

    // Ordering: numbers before text, an array by its smallest element ascending and its largest descending (listed
    // once, even with a repeated element), records without the field last. An unfiltered query is read from the
    // index and a filtered one sorted per candidate; both must give this order, in pages of any size.
    both!(ordering_is_the_same_read_from_the_index_or_sorted, |t: TestDb| async move {
        let (tenant, org) = tenant_with_org(&t, "ooo").await;
        let mut conn = t.db.acquire().await.unwrap();
        let s = scope(&tenant, None);
        let ix = indexes();
        for (id, data) in [
            ("a", json!({"amount": 3, "products": ["p2", "p4", "p1", "p2"]})),
            ("b", json!({"products": ["p3"]})),
            ("c", json!({"amount": 1.5})),
            ("d", json!({"amount": [5, "x", 5]})),
            ("e", json!({"amount": -1, "products": []})),
            ("f", json!({"amount": "y"})),
            ("g", json!({})),
        ] {
            let mut data = obj(data);
            data.insert("status".into(), json!("open"));
            plugin_data::insert(&mut conn, &s, "deals", Some(id), Some(&org), &data, &ix, 1).await.unwrap();
        }
        let open = vec![("status".to_string(), Condition::Eq(json!("open")))];
        // Ascending: numbers (by the smallest), then text only, then no value by id; descending: text (by the
        // largest), then numbers only, then no value by id descending. An empty array is no value.
        for (field, desc, expect) in [
            ("amount", false, "ecadfbg"),
            ("amount", true, "fdacegb"),
            ("products", false, "abcdefg"),
            ("products", true, "abgfedc"),
        ] {
            for limit in [1, 3, 10] {
                // Every plan: read in order from the field's index (the organisation's part of it when scoped),
                // with the filter checked per record when it is unselective (a bound of 1), or driven by the
                // filter and sorted by keys.
                for (path, filters, sc, selective) in [
                    ("index", vec![], scope(&tenant, None), 2_000),
                    ("sorted", open.clone(), scope(&tenant, None), 2_000),
                    ("index, filter per record", open.clone(), scope(&tenant, None), 1),
                    ("org index", vec![], scope(&tenant, Some(&org)), 2_000),
                    ("org index, filter per record", open.clone(), scope(&tenant, Some(&org)), 1),
                    ("org sorted", open.clone(), scope(&tenant, Some(&org)), 2_000),
                ] {
                    let mut seen = String::new();
                    let mut cursor = None;
                    loop {
                        let q = RecordQuery {
                            collection: "deals".into(),
                            filters: filters.clone(),
                            order_by: Some((field.into(), desc)),
                            limit,
                            cursor: cursor.clone(),
                        };
                        let (page, next) = plugin_data::query_planned(&mut conn, &sc, &q, selective).await.unwrap();
                        seen.extend(page.into_iter().map(|r| r.id));
                        if next.is_none() {
                            break;
                        }
                        cursor = next;
                    }
                    assert_eq!(seen, expect, "order by {field}, desc {desc}, {path}, pages of {limit}");
                }
            }
        }
    });
}
