//! The content library through the real host: access by program, tier and role (by listing, id, download link and
//! search), publish and expiry dates on the test clock, versions and their restore, types judged by content and
//! the library's size limit, search inside uploaded documents, and engagement — on SQLite and PostgreSQL.

use portico_tests::{DbKind, Page, TestApp, content, spawn_app};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;

async fn setup(kind: DbKind) -> TestApp {
    let app = spawn_app(kind).await;
    app.install(&content().package(None), &["reseller", "msp"]).await;
    app
}

async fn token(app: &TestApp, email: &str) -> String {
    app.client().token(email, "portico-demo").await
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Page {
    app.client().api(method, &format!("/api/v1/p/content{path}"), Some(token), body).await
}

/// Posts a multipart form to the content API.
async fn upload(
    app: &TestApp,
    token: &str,
    path: &str,
    fields: &[(&str, &str)],
    file: Option<(&str, Vec<u8>)>,
) -> Page {
    let mut form = Form::new();
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    if let Some((name, bytes)) = file {
        form = form.part("file", Part::bytes(bytes).file_name(name.to_string()));
    }
    app.client().api_multipart(&format!("/api/v1/p/content{path}"), token, form).await
}

/// A one-page PDF whose text is `words` (Helvetica), with a correct cross-reference table.
fn pdf(words: &str) -> Vec<u8> {
    let stream = format!("BT /F1 18 Tf 72 720 Td ({words}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_string(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_string(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>".to_string(),
        format!("<< /Length {} >>\nstream\n{stream}\nendstream", stream.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_string(),
    ];
    let mut out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut offsets = Vec::new();
    for (i, o) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{o}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!("trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n", objects.len() + 1).as_bytes(),
    );
    out
}

async fn create(app: &TestApp, admin: &str, fields: &[(&str, &str)], file: (&str, Vec<u8>)) -> String {
    let page = upload(app, admin, "/assets", fields, Some(file)).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    page.json()["id"].as_str().unwrap().to_string()
}

fn ids(v: &Value) -> Vec<String> {
    let mut out: Vec<String> =
        v["assets"].as_array().unwrap().iter().map(|a| a["id"].as_str().unwrap().to_string()).collect();
    out.sort();
    out
}

async fn partners_reach_only_what_their_program_tier_and_role_allow(kind: DbKind) {
    let app = setup(kind).await;
    let admin = token(&app, "admin@acme.example").await;
    let open =
        create(&app, &admin, &[("title", "Price list")], ("prices.pdf", pdf("Zebra pricing for everyone"))).await;
    let gold = create(
        &app,
        &admin,
        &[("title", "Gold playbook"), ("tiers", "gold")],
        ("gold.txt", b"The quokka plan".to_vec()),
    )
    .await;
    let msp = create(
        &app,
        &admin,
        &[("title", "MSP admin guide"), ("programs", "msp"), ("roles", "partner_admin")],
        ("msp.txt", b"Wombat operations".to_vec()),
    )
    .await;
    let expired = create(
        &app,
        &admin,
        &[("title", "Old brochure"), ("publish_date", "2020-01-01"), ("expiry_date", "2021-01-01")],
        ("old.txt", b"Platypus".to_vec()),
    )
    .await;
    let today = chrono::DateTime::from_timestamp_millis(app.state.clock.now_ms()).unwrap().date_naive();
    let later = (today + chrono::Days::new(10)).format("%Y-%m-%d").to_string();
    let scheduled = create(
        &app,
        &admin,
        &[("title", "Launch kit"), ("publish_date", &later)],
        ("launch.txt", b"Narwhal launch".to_vec()),
    )
    .await;

    // Bob, a partner user at Northwind (gold in the reseller program): the open asset and the gold one.
    let bob = token(&app, "bob@northwind.example").await;
    let mut want = vec![open.clone(), gold.clone()];
    want.sort();
    assert_eq!(ids(&call(&app, &bob, Method::GET, "/assets", None).await.json()), want);
    // Guessing an id, a download link or a search word reaches nothing more: not found, not even counted.
    for id in [&msp, &expired, &scheduled] {
        assert_eq!(call(&app, &bob, Method::GET, &format!("/assets/{id}"), None).await.status, StatusCode::NOT_FOUND);
        assert_eq!(
            call(&app, &bob, Method::GET, &format!("/assets/{id}/download"), None).await.status,
            StatusCode::NOT_FOUND
        );
    }
    for word in ["wombat", "platypus", "narwhal"] {
        let found = call(&app, &bob, Method::GET, &format!("/assets?q={word}"), None).await.json();
        assert_eq!((found["total"].as_u64(), ids(&found).len()), (Some(0), 0), "{word}: {found}");
    }
    // Search finds a word that is only inside the uploaded PDF.
    assert_eq!(ids(&call(&app, &bob, Method::GET, "/assets?q=zebra", None).await.json()), vec![open.clone()]);
    assert_eq!(ids(&call(&app, &bob, Method::GET, "/assets?q=quokka", None).await.json()), vec![gold.clone()]);
    // Carol's Fabrikam is registered, not gold; Dave, an admin at Contoso in the MSP program, gets the MSP guide.
    let carol = token(&app, "carol@fabrikam.example").await;
    assert_eq!(call(&app, &carol, Method::GET, &format!("/assets/{gold}"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(call(&app, &carol, Method::GET, "/assets?q=quokka", None).await.json()["total"], 0);
    let dave = token(&app, "dave@contoso.example").await;
    assert_eq!(call(&app, &dave, Method::GET, &format!("/assets/{msp}"), None).await.status, StatusCode::OK);
    assert!(ids(&call(&app, &dave, Method::GET, "/assets?q=wombat", None).await.json()).contains(&msp));
    // Partners change nothing.
    let page = call(&app, &bob, Method::PUT, &format!("/assets/{open}"), Some(json!({ "title": "Mine now" }))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    // Staff see everything with its state; an expired asset is not downloadable, even for them.
    let all = call(&app, &admin, Method::GET, "/assets", None).await.json();
    assert_eq!(all["assets"].as_array().unwrap().len(), 5);
    let state = |id: &str| all["assets"].as_array().unwrap().iter().find(|a| a["id"] == id).unwrap()["state"].clone();
    assert_eq!((state(&expired), state(&scheduled)), (json!("expired"), json!("scheduled")));
    let page = call(&app, &admin, Method::GET, &format!("/assets/{expired}/download"), None).await;
    assert_eq!(page.status, StatusCode::CONFLICT, "{}", page.body);

    // A download is recorded, counted, and announced for gamification.
    let page = call(&app, &bob, Method::GET, &format!("/assets/{open}/download"), None).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let link = page.headers["location"].to_str().unwrap().to_string();
    assert!(link.starts_with("/files/"), "{link}");
    let got = app.client().http.get(format!("{}{link}", app.client().base)).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(got.status(), StatusCode::OK);
    let got = app.event_topics("content").await;
    assert!(got.contains(&"content.downloaded".to_string()), "{got:?}");
    // The counters follow from the plugin's own events, delivered back to it.
    portico::plugins::jobs::deliver_due(&app.state, 100).await.unwrap();
    let staff = call(&app, &admin, Method::GET, &format!("/assets/{open}"), None).await.json();
    assert_eq!((staff["downloads"].as_u64(), staff["views"].as_u64()), (Some(1), Some(0)));
    // The publish date comes (the test clock): the schedule makes it live, in the list and in search.
    app.state.clock.advance(11 * DAY);
    portico::plugins::jobs::run_schedules(&app.state, app.state.clock.now_ms()).await.unwrap();
    assert_eq!(ids(&call(&app, &bob, Method::GET, "/assets?q=narwhal", None).await.json()), vec![scheduled.clone()]);
}

#[tokio::test]
async fn partners_reach_only_what_their_program_tier_and_role_allow_sqlite() {
    partners_reach_only_what_their_program_tier_and_role_allow(DbKind::Sqlite).await;
}

#[tokio::test]
async fn partners_reach_only_what_their_program_tier_and_role_allow_postgres() {
    partners_reach_only_what_their_program_tier_and_role_allow(DbKind::Postgres).await;
}

#[tokio::test]
async fn versions_are_kept_restored_and_uploads_judged_by_content_and_size() {
    let app = setup(DbKind::Sqlite).await;
    // A library that takes files up to 1 MiB.
    let tenant = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&tenant);
    for key in ["reseller", "msp"] {
        let program = scope.program_by_key(key).await.unwrap();
        scope.set_plugin_settings("content", &program.id, &json!({ "max_file_mib": 1 }).to_string()).await.unwrap();
    }
    let admin = token(&app, "admin@acme.example").await;
    let id = create(&app, &admin, &[("title", "Datasheet")], ("sheet.txt", b"First edition: aardvark".to_vec())).await;
    let page = upload(
        &app,
        &admin,
        &format!("/assets/{id}/versions"),
        &[],
        Some(("sheet.txt", b"Second edition: badger".to_vec())),
    )
    .await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    assert_eq!(page.json()["current"], 2);
    let bob = token(&app, "bob@northwind.example").await;
    let search = |word: &'static str| {
        let (app, bob) = (&app, bob.clone());
        async move { call(app, &bob, Method::GET, &format!("/assets?q={word}"), None).await.json()["total"].as_u64() }
    };
    assert_eq!(
        (search("badger").await, search("aardvark").await),
        (Some(1), Some(0)),
        "partners get the current version"
    );
    // Restoring version 1 makes it current again, as version 3; the history keeps all three.
    let page = call(&app, &admin, Method::POST, &format!("/assets/{id}/versions/1/restore"), Some(json!({}))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let v = page.json();
    assert_eq!((v["current"].as_u64(), v["versions"].as_array().unwrap().len()), (Some(3), 3));
    assert_eq!(v["versions"][0]["restored_from"], 1);
    assert_eq!((search("aardvark").await, search("badger").await), (Some(1), Some(0)));
    let dl = call(&app, &bob, Method::GET, &format!("/assets/{id}/download"), None).await;
    let link = dl.headers["location"].to_str().unwrap().to_string();
    let body = app.client().http.get(format!("{}{link}", app.client().base)).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(body.text().await.unwrap(), "First edition: aardvark");

    // A program disguised as a PDF is refused, saying what it is; so is a file over the library's limit.
    let exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
    let page = upload(&app, &admin, "/assets", &[("title", "Totally a PDF")], Some(("report.pdf", exe))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(page.body.contains("report.pdf is a program"), "{}", page.body);
    let big = vec![b'a'; (1 << 20) + 10];
    let page = upload(&app, &admin, "/assets", &[("title", "Huge")], Some(("huge.txt", big))).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert!(page.body.contains("larger than the library's limit of 1 MiB"), "{}", page.body);
    assert!(app.blob_files("/plugins/content/uploads/").len() <= 3, "refused uploads are not kept");
    // Partners upload nothing, and delete nothing.
    let page = upload(&app, &bob, "/assets", &[("title", "x")], Some(("x.txt", b"x".to_vec()))).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert_eq!(call(&app, &bob, Method::DELETE, &format!("/assets/{id}"), None).await.status, StatusCode::FORBIDDEN);
    // Deleting an asset deletes its files (every version's), its record and its search entry.
    let files = || app.blob_files("/plugins/content/uploads/").len();
    let before = files();
    assert_eq!(call(&app, &admin, Method::DELETE, &format!("/assets/{id}"), None).await.status, StatusCode::OK);
    assert_eq!(files(), before - 2, "versions 1 and 2 (3 is 1 restored)");
    assert_eq!(call(&app, &admin, Method::GET, &format!("/assets/{id}"), None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(search("aardvark").await, Some(0));
}

#[tokio::test]
async fn pages_show_what_is_new_and_the_analytics_by_partner() {
    let app = setup(DbKind::Sqlite).await;
    let admin = token(&app, "admin@acme.example").await;
    let id =
        create(&app, &admin, &[("title", "Campaign deck"), ("tags", "campaign")], ("deck.txt", b"Deck".to_vec())).await;
    let mut bob = app.client();
    bob.login_ok("bob@northwind.example").await;
    let first = bob.get("/p/content/").await;
    assert!(first.body.contains("Campaign deck") && !first.body.contains(">new<"), "{}", first.body);
    app.state.clock.advance(1_000);
    create(&app, &admin, &[("title", "Fresh flyer")], ("flyer.txt", b"Flyer".to_vec())).await;
    let second = bob.get("/p/content/").await;
    assert!(second.body.contains("1 new"), "{}", second.body);
    assert_eq!(bob.get(&format!("/p/content/assets/{id}")).await.status, StatusCode::OK);
    assert_eq!(bob.get(&format!("/p/content/assets/{id}/download")).await.status, StatusCode::SEE_OTHER);
    portico::plugins::jobs::deliver_due(&app.state, 100).await.unwrap();
    // Staff: analytics with the partner's downloads; partners have none.
    let mut web = app.client();
    web.login_ok("admin@acme.example").await;
    let page = web.get("/p/content/analytics").await;
    assert!(page.body.contains("Northwind Solutions") && page.body.contains("Fresh flyer"), "{}", page.body);
    assert_eq!(bob.get("/p/content/analytics").await.status, StatusCode::FORBIDDEN);
    // An uploaded image gets a thumbnail made by the plugin, which the list shows.
    // A 40 × 20 PNG.
    let png: &[u8] = &[
        137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 40, 0, 0, 0, 20, 8, 2, 0, 0, 0, 112, 36,
        232, 236, 0, 0, 0, 36, 73, 68, 65, 84, 120, 218, 99, 56, 33, 39, 55, 32, 136, 97, 212, 226, 81, 139, 71, 45,
        30, 181, 120, 212, 226, 81, 139, 71, 45, 30, 181, 120, 228, 88, 12, 0, 82, 225, 44, 174, 78, 225, 5, 176, 0, 0,
        0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
    ];
    let id = create(&app, &admin, &[("title", "Logo pack")], ("logo.png", png.to_vec())).await;
    let asset = call(&app, &admin, Method::GET, &format!("/assets/{id}"), None).await.json();
    let thumb = asset["thumbnail"].as_str().unwrap_or_else(|| panic!("{asset}")).to_string();
    let got = web.get(&thumb).await;
    assert_eq!((got.status, got.headers["content-type"].to_str().unwrap()), (StatusCode::OK, "image/png"));
    assert!(web.get("/p/content/").await.body.contains("class=\"content-thumb\""));
    // So does an uploaded PDF, from its first page.
    let id = create(&app, &admin, &[("title", "Spec sheet")], ("spec.pdf", pdf("Spec sheet page one"))).await;
    let asset = call(&app, &admin, Method::GET, &format!("/assets/{id}"), None).await.json();
    let thumb = asset["thumbnail"].as_str().unwrap_or_else(|| panic!("{asset}")).to_string();
    let got = web.get(&thumb).await;
    assert_eq!((got.status, got.headers["content-type"].to_str().unwrap()), (StatusCode::OK, "image/png"));
    assert!(got.body.contains("IHDR"), "a PNG");
    // The partner card on the partner's page.
    let org = app.demo_user("bob@northwind.example").await.org_id;
    let page = web.get(&format!("/admin/orgs/{org}")).await;
    assert!(page.body.contains("1 downloads and 1 views in the last 30 days"), "{}", page.body);
}

#[tokio::test]
async fn a_folder_holds_its_subfolders_assets() {
    let app = setup(DbKind::Sqlite).await;
    let admin = token(&app, "admin@acme.example").await;
    let folder = |name: &'static str, parent: Option<String>| {
        let (app, admin) = (&app, &admin);
        async move {
            let page =
                call(app, admin, Method::POST, "/folders", Some(json!({ "name": name, "parent": parent }))).await;
            assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
            page.json()["id"].as_str().unwrap().to_string()
        }
    };
    let technical = folder("Technical", None).await;
    let datasheets = folder("Datasheets", Some(technical.clone())).await;
    let sales = folder("Sales", None).await;
    let body = json!({ "title": "ER-500 datasheet", "url": "https://acme.example/er-500.pdf", "folder": datasheets });
    let page = call(&app, &admin, Method::POST, "/assets", Some(body)).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let bob = token(&app, "bob@northwind.example").await;
    for (f, found) in [(&technical, true), (&datasheets, true), (&sales, false)] {
        let listed = ids(&call(&app, &bob, Method::GET, &format!("/assets?folder={f}"), None).await.json());
        assert_eq!(listed.contains(&id), found, "{f}");
    }
    // The library page lists the folders as a tree.
    let mut client = app.client();
    client.login_ok("bob@northwind.example").await;
    let page = client.get("/p/content/").await;
    let (t, d) = (page.body.find(">Technical<").unwrap(), page.body.find(">— Datasheets<").unwrap());
    assert!(t < d, "the subfolder follows its parent");
}
