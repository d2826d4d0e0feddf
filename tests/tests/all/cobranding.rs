//! Co-branding through the real host: a partner's PDF made from the vendor's with their name and logo on it (read
//! back with poppler), access by program, organisation and role, approval of changed text, text that cannot fit,
//! HTML that escapes what partners type, share links that expire and can be withdrawn, and batch runs in chunks
//! that list the partners without a logo — on SQLite and PostgreSQL.

use portico::domain::{OrgKind, OrgProfile};
use portico_tests::{DbKind, Page, TestApp, co_branding, spawn_app};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const DAY: i64 = 86_400_000;
const LOGO: &[u8] = include_bytes!("../../../host/demo/northwind-logo.png");
const FLYER: &[u8] = include_bytes!("../../../plugins/co-branding/demo/cloud-firewall-flyer.pdf");

async fn setup(kind: DbKind) -> TestApp {
    let app = spawn_app(kind).await;
    app.install(&co_branding().package(None), &["reseller", "msp"]).await;
    set_logo(&app, "Northwind Solutions").await;
    app
}

async fn org_id(app: &TestApp, name: &str) -> String {
    let t = app.tenant_id("acme").await;
    let q = portico::domain::ListQuery { q: name.into(), page: None };
    app.state.db.tenant(&t).list_partner_orgs(&q).await.unwrap().items.into_iter().find(|o| o.name == name).unwrap().id
}

async fn set_logo(app: &TestApp, name: &str) {
    let t = app.tenant_id("acme").await;
    let org = org_id(app, name).await;
    let key = format!("tenants/{t}/orgs/{org}/logo-test.png");
    app.state.blobs.put(&key, LOGO.to_vec()).await.unwrap();
    app.state.db.tenant(&t).set_org_logo(&org, Some(&key)).await.unwrap();
}

async fn token(app: &TestApp, email: &str) -> String {
    app.client().token(email, "portico-demo").await
}

async fn call(app: &TestApp, token: &str, method: Method, path: &str, body: Option<Value>) -> Page {
    app.client().api(method, &format!("/api/v1/p/co-branding{path}"), Some(token), body).await
}

fn flyer_areas() -> Value {
    json!([
        { "name": "logo", "source": "logo", "page": 1, "x": 403, "y": 48, "w": 154, "h": 64, "align": "center" },
        { "name": "company", "label": "Company name", "source": "company_name", "page": 1, "x": 40, "y": 732, "w": 330,
          "h": 22, "size": 16, "min_size": 9, "bold": true },
        { "name": "phone", "source": "phone", "page": 1, "x": 40, "y": 774, "w": 200, "h": 14, "size": 10.5 },
        { "name": "note", "label": "Your message", "source": "text", "default": "Ask us for a demo.", "max_len": 140,
          "max_lines": 2, "page": 1, "x": 50, "y": 528, "w": 500, "h": 40, "size": 13, "min_size": 9 }
    ])
}

/// A published PDF template made from the demo flyer; `fields` add to the form.
async fn pdf_template(app: &TestApp, admin: &str, fields: &[(&str, &str)]) -> String {
    let mut form = Form::new()
        .text("name", "Cloud Firewall flyer")
        .text("kind", "pdf")
        .text("areas", flyer_areas().to_string())
        .part("file", Part::bytes(FLYER.to_vec()).file_name("flyer.pdf"));
    for (k, v) in fields {
        form = form.text(k.to_string(), v.to_string());
    }
    let page = app.client().api_multipart("/api/v1/p/co-branding/templates", admin, form).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    publish(app, admin, &id).await;
    id
}

async fn publish(app: &TestApp, admin: &str, id: &str) {
    let page = call(app, admin, Method::PUT, &format!("/templates/{id}"), Some(json!({ "status": "published" }))).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
}

async fn generate(app: &TestApp, who: &str, template: &str, values: Value) -> Page {
    call(app, who, Method::POST, &format!("/templates/{template}/generate"), Some(json!({ "values": values }))).await
}

/// Follows a download (a redirect to a `/files/` link) and returns the bytes.
async fn fetch(app: &TestApp, token: Option<&str>, path: &str) -> (StatusCode, Vec<u8>) {
    let c = app.client();
    let mut req = c.http.get(format!("{}{path}", c.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    if res.status() == StatusCode::SEE_OTHER {
        let to = res.headers()["location"].to_str().unwrap().to_string();
        let mut req = c.http.get(format!("{}{to}", c.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        return (res.status(), res.bytes().await.unwrap().to_vec());
    }
    (res.status(), res.bytes().await.unwrap().to_vec())
}

fn poppler(tool: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(tool)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{tool} is needed (poppler-utils): {e}"));
    assert!(out.status.success(), "{tool}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn a_partners_pdf_has_their_name_and_logo_and_stays_theirs(kind: DbKind) {
    let app = setup(kind).await;
    let admin = token(&app, "admin@acme.example").await;
    let flyer = pdf_template(&app, &admin, &[("programs", "reseller")]).await;

    let bob = token(&app, "bob@northwind.example").await;
    let listed = call(&app, &bob, Method::GET, "/templates", None).await.json();
    assert_eq!(listed["templates"].as_array().unwrap().len(), 1, "{listed}");
    let page = generate(&app, &bob, &flyer, json!({})).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let doc = page.json();
    assert_eq!((doc["status"].as_str(), doc["customised"].as_bool()), (Some("ready"), Some(false)));
    let id = doc["id"].as_str().unwrap().to_string();

    // The PDF: the vendor's text kept, the partner's name and phone added, and the logo embedded as an image.
    let (status, pdf) = fetch(&app, Some(&bob), &format!("/api/v1/p/co-branding/generated/{id}/download")).await;
    assert_eq!(status, StatusCode::OK);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flyer.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let f = file.to_str().unwrap();
    let text = poppler("pdftotext", &[f, "-"]);
    for words in ["Cloud Firewall", "Northwind Solutions", "+1 555 0100", "Ask us for a demo."] {
        assert!(text.contains(words), "{words} is not in the PDF's text:\n{text}");
    }
    let images = poppler("pdfimages", &["-list", f]);
    assert!(images.lines().skip(2).any(|l| l.contains("image")), "no image in the PDF:\n{images}");
    // Rendered, as a reader would see it (kept for looking at when PORTICO_KEEP_RENDERS names a folder).
    let png = dir.path().join("page");
    poppler("pdftoppm", &["-r", "60", "-png", "-singlefile", f, png.to_str().unwrap()]);
    let rendered = std::fs::read(dir.path().join("page.png")).unwrap();
    assert!(rendered.starts_with(b"\x89PNG") && rendered.len() > 10_000, "a blank render");
    if let Ok(keep) = std::env::var("PORTICO_KEEP_RENDERS") {
        std::fs::write(std::path::Path::new(&keep).join("co-branded-flyer.png"), &rendered).unwrap();
    }

    // Another organisation's partner reaches none of it, by id or link; the MSP program does not see the template.
    let carol = token(&app, "carol@fabrikam.example").await;
    for path in [format!("/generated/{id}"), format!("/generated/{id}/download"), format!("/generated/{id}/share")] {
        assert_eq!(call(&app, &carol, Method::GET, &path, None).await.status, StatusCode::NOT_FOUND, "{path}");
    }
    let share = call(&app, &carol, Method::POST, &format!("/generated/{id}/share"), Some(json!({ "days": 3 }))).await;
    assert_eq!(share.status, StatusCode::NOT_FOUND);
    assert!(
        call(&app, &carol, Method::GET, "/generated", None).await.json()["generated"].as_array().unwrap().is_empty()
    );
    let dave = token(&app, "dave@contoso.example").await;
    assert!(
        call(&app, &dave, Method::GET, "/templates", None).await.json()["templates"].as_array().unwrap().is_empty()
    );
    assert_eq!(
        call(&app, &dave, Method::GET, &format!("/templates/{flyer}"), None).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(generate(&app, &dave, &flyer, json!({})).await.status, StatusCode::NOT_FOUND);
    // Partners change no template and approve nothing; a draft is invisible to them.
    let put = call(&app, &bob, Method::PUT, &format!("/templates/{flyer}"), Some(json!({ "name": "Mine" }))).await;
    assert_eq!(put.status, StatusCode::FORBIDDEN);
    let approve = call(&app, &bob, Method::POST, &format!("/generated/{id}/approve"), None).await;
    assert_eq!(approve.status, StatusCode::FORBIDDEN);
    let batch =
        call(&app, &bob, Method::POST, &format!("/templates/{flyer}/batch"), Some(json!({ "program": "reseller" })))
            .await;
    assert_eq!(batch.status, StatusCode::FORBIDDEN);
    let draft =
        call(&app, &admin, Method::PUT, &format!("/templates/{flyer}"), Some(json!({ "status": "draft" }))).await;
    assert_eq!(draft.status, StatusCode::OK);
    assert_eq!(generate(&app, &bob, &flyer, json!({})).await.status, StatusCode::NOT_FOUND);
    // What was made before stays the partner's.
    assert_eq!(call(&app, &bob, Method::GET, &format!("/generated/{id}"), None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_partners_pdf_has_their_name_and_logo_and_stays_theirs_sqlite() {
    a_partners_pdf_has_their_name_and_logo_and_stays_theirs(DbKind::Sqlite).await;
}

#[tokio::test]
async fn a_partners_pdf_has_their_name_and_logo_and_stays_theirs_postgres() {
    a_partners_pdf_has_their_name_and_logo_and_stays_theirs(DbKind::Postgres).await;
}

#[tokio::test]
async fn changed_text_waits_for_approval_and_text_that_cannot_fit_is_refused() {
    let app = setup(DbKind::Sqlite).await;
    let admin = token(&app, "admin@acme.example").await;
    let flyer = pdf_template(&app, &admin, &[("requires_approval", "on")]).await;
    let alice = token(&app, "alice@northwind.example").await;

    // Over the area's limit of characters, or lines: refused, by field, nothing kept.
    let long = generate(&app, &alice, &flyer, json!({ "note": "x".repeat(141) })).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", long.body);
    assert_eq!(long.json()["error"]["field"], "note");
    assert!(long.json()["error"]["message"].as_str().unwrap().contains("allows 140 characters; this has 141"));
    // Within the limit but wider than the box at the smallest size (one long word): refused, never cut.
    let wide = generate(&app, &alice, &flyer, json!({ "note": "W".repeat(130) })).await;
    assert_eq!(wide.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wide.body);
    assert!(wide.json()["error"]["message"].as_str().unwrap().contains("does not fit"), "{}", wide.body);
    assert!(
        call(&app, &alice, Method::GET, "/generated", None).await.json()["generated"].as_array().unwrap().is_empty()
    );

    // A long message that fits when shrunk is made.
    let shrunk = "Book a free site survey with our engineers in Seattle this spring and see the console live at your own office.";
    let page = generate(&app, &alice, &flyer, json!({ "note": shrunk })).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let doc = page.json();
    assert_eq!((doc["status"].as_str(), doc["customised"].as_bool()), (Some("pending"), Some(true)));
    let id = doc["id"].as_str().unwrap().to_string();
    // Waiting: not downloadable or shareable by the partner; staff see it in their queue and may open it.
    let dl = call(&app, &alice, Method::GET, &format!("/generated/{id}/download"), None).await;
    assert_eq!(dl.status, StatusCode::CONFLICT, "{}", dl.body);
    assert!(dl.body.contains("waiting for the vendor's approval"), "{}", dl.body);
    let share = call(&app, &alice, Method::POST, &format!("/generated/{id}/share"), Some(json!({ "days": 3 }))).await;
    assert_eq!(share.status, StatusCode::CONFLICT);
    let queue = call(&app, &admin, Method::GET, "/generated?status=pending", None).await.json();
    assert_eq!(queue["generated"].as_array().unwrap().len(), 1);
    assert_eq!(
        call(&app, &admin, Method::GET, &format!("/generated/{id}/download"), None).await.status,
        StatusCode::SEE_OTHER
    );
    // A rejection needs a reason; an approval makes it usable and tells its maker.
    let reject = call(&app, &admin, Method::POST, &format!("/generated/{id}/reject"), Some(json!({}))).await;
    assert_eq!(reject.status, StatusCode::UNPROCESSABLE_ENTITY);
    let ok = call(&app, &admin, Method::POST, &format!("/generated/{id}/approve"), None).await;
    assert_eq!(ok.json()["status"], "approved", "{}", ok.body);
    assert_eq!(
        call(&app, &alice, Method::GET, &format!("/generated/{id}/download"), None).await.status,
        StatusCode::SEE_OTHER
    );
    let again = call(&app, &admin, Method::POST, &format!("/generated/{id}/approve"), None).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    // The default text needs no approval.
    assert_eq!(generate(&app, &alice, &flyer, json!({})).await.json()["status"], "ready");

    // A partner without a logo is told so, not given a flyer with a hole.
    let carol = token(&app, "carol@fabrikam.example").await;
    let no_logo = generate(&app, &carol, &flyer, json!({})).await;
    assert_eq!(no_logo.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(no_logo.body.contains("no logo"), "{}", no_logo.body);

    // A template is checked when it is saved: a box off the page, or a file that is not a PDF.
    let mut areas = flyer_areas();
    areas[1]["x"] = json!(500);
    let bad = Form::new()
        .text("name", "Off the page")
        .text("kind", "pdf")
        .text("areas", areas.to_string())
        .part("file", Part::bytes(FLYER.to_vec()).file_name("flyer.pdf"));
    let page = app.client().api_multipart("/api/v1/p/co-branding/templates", &admin, bad).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
    assert_eq!(page.json()["error"]["field"], "areas[1].w");
    let fake = Form::new()
        .text("name", "Fake")
        .text("kind", "pdf")
        .text("areas", flyer_areas().to_string())
        .part("file", Part::bytes(b"<html>not a pdf</html>".to_vec()).file_name("flyer.pdf"));
    let page = app.client().api_multipart("/api/v1/p/co-branding/templates", &admin, fake).await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
}

#[tokio::test]
async fn html_output_escapes_what_partners_type_and_share_links_expire_or_are_withdrawn() {
    let app = setup(DbKind::Sqlite).await;
    let admin = token(&app, "admin@acme.example").await;
    let body = json!({
        "name": "Landing page", "kind": "html",
        "body": "<h1>{{company}}</h1>{{logo}}<p>{{offer}}</p>",
        "areas": [{ "name": "company", "source": "company_name" }, { "name": "logo", "source": "logo" },
                  { "name": "offer", "source": "text", "default": "Call us.", "max_len": 200, "max_lines": 3 }]
    });
    let page = call(&app, &admin, Method::POST, "/templates", Some(body)).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let landing = page.json()["id"].as_str().unwrap().to_string();
    publish(&app, &admin, &landing).await;

    // A partner admin renamed the company with markup in it; the free text has some too.
    let t = app.tenant_id("acme").await;
    let northwind = org_id(&app, "Northwind Solutions").await;
    let profile = OrgProfile {
        name: "Northwind <script>alert(1)</script> & Co".into(),
        website: "https://northwind.example".into(),
        address: String::new(),
        phone: String::new(),
        contact_email: String::new(),
    };
    app.state.db.tenant(&t).update_org_profile(&northwind, &profile).await.unwrap();
    let bob = token(&app, "bob@northwind.example").await;
    let page = generate(&app, &bob, &landing, json!({ "offer": "<img src=x onerror=alert(2)>\n\"20%\" off" })).await;
    assert_eq!(page.status, StatusCode::CREATED, "{}", page.body);
    let id = page.json()["id"].as_str().unwrap().to_string();
    let (status, html) = fetch(&app, Some(&bob), &format!("/api/v1/p/co-branding/generated/{id}/download")).await;
    let html = String::from_utf8(html).unwrap();
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(!html.contains("<script>") && !html.contains("<img src=x"), "{html}");
    assert!(html.contains("<h1>Northwind &lt;script&gt;alert(1)&lt;/script&gt; &amp; Co</h1>"), "{html}");
    assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;<br>&quot;20%&quot; off"), "{html}");
    assert!(html.contains("<img src=\"data:image/png;base64,"), "the logo is embedded: {html}");

    // A share link opens for anyone holding it, without signing in.
    let share = call(&app, &bob, Method::POST, &format!("/generated/{id}/share"), Some(json!({ "days": 2 }))).await;
    assert_eq!(share.status, StatusCode::CREATED, "{}", share.body);
    let path = share.json()["path"].as_str().unwrap().to_string();
    assert!(share.json()["url"].as_str().unwrap().ends_with(&path));
    let (status, bytes) = fetch(&app, None, &path).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&bytes).contains("Northwind &lt;script&gt;"));
    // Altered (a later expiry, another id): refused without saying more.
    let parts: Vec<&str> = path.rsplit('/').next().unwrap().split('.').collect();
    let later = format!("/p/co-branding/s/{}.{}.{}", parts[0], parts[1].parse::<i64>().unwrap() + 10 * DAY, parts[2]);
    let mut anon = app.client();
    for forged in [later, format!("/p/co-branding/s/x{}", &path[17..]), "/p/co-branding/s/nothing".into()] {
        let page = anon.get(&forged).await;
        assert_eq!(page.status, StatusCode::GONE, "{forged}");
        assert!(page.body.contains("not valid"), "{forged}: {}", page.body);
    }
    // Withdrawn: stops at once.
    let share_id = share.json()["id"].as_str().unwrap().to_string();
    let revoke = call(&app, &bob, Method::DELETE, &format!("/generated/{id}/share/{share_id}"), None).await;
    assert_eq!(revoke.status, StatusCode::OK, "{}", revoke.body);
    let page = anon.get(&path).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("withdrawn"), "{}", page.body);
    // Expired: a day's link, two days later (the test clock).
    let share = call(&app, &bob, Method::POST, &format!("/generated/{id}/share"), Some(json!({ "days": 1 }))).await;
    let path = share.json()["path"].as_str().unwrap().to_string();
    assert_eq!(fetch(&app, None, &path).await.0, StatusCode::OK);
    app.state.clock.advance(2 * DAY);
    let page = anon.get(&path).await;
    assert_eq!(page.status, StatusCode::GONE);
    assert!(page.body.contains("expired"), "{}", page.body);
    // Longer than the vendor allows (30 days by default): refused.
    let long = call(&app, &bob, Method::POST, &format!("/generated/{id}/share"), Some(json!({ "days": 90 }))).await;
    assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
    let shares = call(&app, &bob, Method::GET, &format!("/generated/{id}/share"), None).await.json();
    let states: Vec<&str> = shares["shares"].as_array().unwrap().iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, vec!["expired", "revoked"]);

    // Usage by template and partner: made once, downloaded once, shared twice, links opened twice.
    let a = call(&app, &admin, Method::GET, "/analytics?days=30", None).await.json();
    let row = &a["by_partner"][0];
    assert_eq!((row["generated"].as_u64(), row["downloaded"].as_u64()), (Some(1), Some(1)), "{a}");
    assert_eq!((row["shared"].as_u64(), row["opened"].as_u64()), (Some(2), Some(2)), "{a}");
    assert_eq!(call(&app, &bob, Method::GET, "/analytics", None).await.status, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_batch_makes_every_partners_pdf_in_chunks_and_lists_those_without_a_logo() {
    let app = setup(DbKind::Sqlite).await;
    let admin = token(&app, "admin@acme.example").await;
    let flyer = pdf_template(&app, &admin, &[]).await;
    // Thirty more reseller partners with a logo: more than one chunk.
    let t = app.tenant_id("acme").await;
    let scope = app.state.db.tenant(&t);
    let reseller = scope.program_by_key("reseller").await.unwrap();
    let silver = reseller.tiers.iter().find(|t| t.key == "silver").unwrap().id.clone();
    for i in 0..30 {
        let p =
            OrgProfile { name: format!("Reseller {i:02}"), phone: format!("+1 555 01{i:02}"), ..Default::default() };
        let org = scope.create_org(OrgKind::Partner, &p).await.unwrap();
        scope.enrol(&org.id, &reseller.id, &silver).await.unwrap();
        set_logo(&app, &p.name).await;
    }
    let page =
        call(&app, &admin, Method::POST, &format!("/templates/{flyer}/batch"), Some(json!({ "program": "reseller" })))
            .await;
    assert_eq!(page.status, StatusCode::ACCEPTED, "{}", page.body);
    let batch = page.json();
    assert_eq!((batch["partners"].as_u64(), batch["done"].as_u64()), (Some(32), Some(25)), "{batch}");
    // The rest follows from the plugin's own event, delivered back to it.
    portico::plugins::jobs::deliver_due(&app.state, 100).await.unwrap();
    let id = batch["id"].as_str().unwrap();
    let batch = call(&app, &admin, Method::GET, &format!("/batches/{id}"), None).await.json();
    assert_eq!((batch["finished"].as_bool(), batch["made"].as_u64()), (Some(true), Some(31)), "{batch}");
    let missing: Vec<&str> =
        batch["missing_logo"].as_array().unwrap().iter().map(|o| o["name"].as_str().unwrap()).collect();
    assert_eq!(missing, vec!["Fabrikam Systems"]);
    // Each partner finds theirs; the partner without a logo has nothing.
    let bob = token(&app, "bob@northwind.example").await;
    let mine = call(&app, &bob, Method::GET, "/generated", None).await.json();
    assert_eq!(mine["generated"].as_array().unwrap().len(), 1);
    assert_eq!(mine["generated"][0]["batch_id"], id);
    let carol = token(&app, "carol@fabrikam.example").await;
    assert!(
        call(&app, &carol, Method::GET, "/generated", None).await.json()["generated"].as_array().unwrap().is_empty()
    );
    // An unknown program is refused in words.
    let page =
        call(&app, &admin, Method::POST, &format!("/templates/{flyer}/batch"), Some(json!({ "program": "nope" })))
            .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
}
