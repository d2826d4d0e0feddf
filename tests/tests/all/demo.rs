//! The demo tenant is seeded exactly as DESIGN.md lists it.

use portico::domain::{ListQuery, Role};
use portico_tests::{DbKind, spawn_app};

#[tokio::test]
async fn the_demo_tenant_matches_the_design() {
    let app = spawn_app(DbKind::Sqlite).await;
    let t = app.state.db.tenant_by_slug("acme").await.unwrap().expect("acme");
    assert_eq!(t.name, "Acme Networks");
    let scope = app.state.db.tenant(&t.id);
    let tiers = |p: &portico::domain::Program| p.tiers.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    let reseller = scope.program_by_key("reseller").await.unwrap();
    assert_eq!(tiers(&reseller), ["Registered", "Silver", "Gold"]);
    let msp = scope.program_by_key("msp").await.unwrap();
    assert_eq!(tiers(&msp), ["Member", "Premier"]);
    let mut enrolled: Vec<(String, String, String)> = Vec::new();
    for p in [&reseller, &msp] {
        for e in scope.enrolments_of_program(&p.id, &Default::default()).await.unwrap().items {
            enrolled.push((e.org_name, e.program_key, e.tier_name));
        }
    }
    enrolled.sort();
    assert_eq!(
        enrolled,
        [
            ("Contoso Managed Services".to_string(), "msp".to_string(), "Member".to_string()),
            ("Fabrikam Systems".into(), "reseller".into(), "Registered".into()),
            ("Northwind Solutions".into(), "reseller".into(), "Gold".into()),
        ]
    );
    let users = scope.list_users(None, &ListQuery::default()).await.unwrap();
    assert_eq!(users.total, 6);
    let expect = [
        ("admin@acme.example", Role::VendorAdmin, "Acme Networks"),
        ("manager@acme.example", Role::ChannelManager, "Acme Networks"),
        ("alice@northwind.example", Role::PartnerAdmin, "Northwind Solutions"),
        ("bob@northwind.example", Role::PartnerUser, "Northwind Solutions"),
        ("carol@fabrikam.example", Role::PartnerAdmin, "Fabrikam Systems"),
        ("dave@contoso.example", Role::PartnerAdmin, "Contoso Managed Services"),
    ];
    for (email, role, org) in expect {
        let u = scope.user_by_email(email).await.unwrap().unwrap_or_else(|| panic!("{email}"));
        assert_eq!((u.role, u.org_name.as_str()), (role, org), "{email}");
    }
    // Seeding again changes nothing.
    assert!(!portico::demo::seed(&app.state.db).await.unwrap());
    assert_eq!(scope.list_users(None, &ListQuery::default()).await.unwrap().total, 6);
}

#[tokio::test]
async fn all_six_demo_users_sign_in_with_the_demo_password() {
    let app = spawn_app(DbKind::Sqlite).await;
    for (email, name, _) in portico::demo::DEMO_USERS {
        let mut c = app.client();
        c.login_ok(email).await;
        assert!(c.get("/").await.body.contains(name), "{email} sees their dashboard");
    }
}

#[tokio::test]
async fn partners_see_their_program_and_tier_on_the_dashboard() {
    let app = spawn_app(DbKind::Sqlite).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let page = bob.get("/").await.body;
    assert!(page.contains("Reseller"));
    assert!(page.contains(r#"<li class="tier-chip current" aria-current="step">Gold</li>"#), "{page}");
}

/// `portico demo` installs every bundled plugin (each crate under `plugins/`, and the SDK's example) and enables
/// it in both programs, with its sample data.
#[tokio::test]
async fn every_bundled_plugin_is_installed_and_enabled_in_both_programs() {
    let app = spawn_app(DbKind::Sqlite).await;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    // As `portico demo` does from the repository root (the plugins were built by scripts/build-plugins).
    portico::demo::install_bundled(&app.state, &root).await.unwrap();
    let t = app.state.db.tenant_by_slug("acme").await.unwrap().unwrap();
    let scope = app.state.db.tenant(&t.id);
    let programs: Vec<String> = scope.list_programs().await.unwrap().into_iter().map(|p| p.id).collect::<Vec<_>>();
    let mut bundled: Vec<String> = std::fs::read_dir(root.join("plugins"))
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("plugin.toml").exists())
        .map(|e| {
            portico_plugin_api::Manifest::parse(&std::fs::read_to_string(e.path().join("plugin.toml")).unwrap())
                .unwrap()
                .id
        })
        .collect();
    bundled.push("guestbook".into());
    assert!(bundled.len() >= 2, "{bundled:?}");
    for id in &bundled {
        assert!(scope.installed_plugin(id).await.unwrap().is_some(), "{id} is installed");
        let mut enabled: Vec<String> =
            scope.plugin_programs(id).await.unwrap().into_iter().filter(|p| p.enabled).map(|p| p.program_id).collect();
        enabled.sort();
        let mut all = programs.clone();
        all.sort();
        assert_eq!(enabled, all, "{id} is enabled in every program");
    }
    // The deal plugin's sample data is there: Northwind's partner admin sees deals.
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    let deals = alice.get("/p/deal-registration/").await;
    assert_eq!(deals.status, reqwest::StatusCode::OK);
    assert!(deals.body.contains("Globex"), "sample deals are listed");
}

/// A seed stopped part-way (here: only the tenant was created) is completed on the next start, on both databases.
#[tokio::test]
async fn a_half_seeded_demo_tenant_is_seeded_again() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let t = portico_tests::TestDb::new(kind).await;
        let partial = portico::storage::NewTenant { slug: "acme".into(), name: "Acme Networks".into(), domain: None };
        let half = t.db.create_tenant(&partial).await.unwrap();
        t.db.tenant(&half.id)
            .create_org(
                portico::domain::OrgKind::Vendor,
                &portico::domain::OrgProfile { name: "Acme Networks".into(), ..Default::default() },
            )
            .await
            .unwrap();
        assert!(portico::demo::seed(&t.db).await.unwrap(), "{kind:?}: seeded again");
        let acme = t.db.tenant_by_slug("acme").await.unwrap().unwrap();
        assert_ne!(acme.id, half.id);
        assert!(t.db.tenant_by_id(&half.id).await.unwrap().is_none(), "the half-made tenant is gone");
        let scope = t.db.tenant(&acme.id);
        assert_eq!(scope.list_users(None, &ListQuery::default()).await.unwrap().total, 6, "{kind:?}");
        assert_eq!(scope.list_partner_orgs(&ListQuery::default()).await.unwrap().total, 3, "{kind:?}");
        // And a complete one is left alone.
        assert!(!portico::demo::seed(&t.db).await.unwrap());
    }
}

/// Deleting a tenant leaves no row of it in any table, plugin data and event deliveries included.
#[tokio::test]
async fn deleting_a_tenant_leaves_nothing_of_it() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app(kind).await;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        portico::demo::install_bundled(&app.state, &root).await.unwrap();
        let id = app.tenant_id("acme").await;
        let tables = [
            "tenant_templates",
            "orgs",
            "programs",
            "tiers",
            "enrolments",
            "users",
            "sessions",
            "api_tokens",
            "auth_tokens",
            "login_failures",
            "mail",
            "audit_log",
            "plugin_installs",
            "plugin_programs",
            "plugin_records",
            "plugin_index",
            "plugin_unique",
            "plugin_subscriptions",
            "events",
            "event_deliveries",
            "schedule_ticks",
            "plugin_secrets",
            "notifications",
            "plugin_blobs",
            "user_activity",
            "search_docs",
        ];
        let count = |table: &str| format!("SELECT COUNT(*) FROM {table} WHERE tenant_id = '{id}'");
        assert!(app.test_db.scalar(&count("plugin_records")).await > 0, "{kind:?}: the sample deals are there");
        app.state.db.delete_tenant(&id).await.unwrap();
        for table in tables {
            assert_eq!(app.test_db.scalar(&count(table)).await, 0, "{kind:?}: {table}");
        }
        if kind == DbKind::Sqlite {
            // The search index has no tenant column: it holds only other tenants' documents (here, none).
            assert_eq!(app.test_db.scalar("SELECT COUNT(*) FROM search_fts").await, 0);
        }
        assert!(app.state.db.tenant_by_slug("acme").await.unwrap().is_none());
    }
}
