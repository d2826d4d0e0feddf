//! Large files without the plugin's memory: uploads stream into the blob store under the route's limits and are
//! judged by their content; the plugin keeps the ones it wants (inside its transaction); downloads the plugin
//! authorises are served by the host from a signed link, with `Range`, an ETag and a safe disposition.

use portico_tests::{DbKind, TestApp, capabilities, spawn_app};
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};

/// A small but real PDF (enough for its signature).
fn pdf(len: usize) -> Vec<u8> {
    let mut v = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n".to_vec();
    while v.len() < len {
        v.extend_from_slice(format!("% filler line {}\n", v.len()).as_bytes());
    }
    v.truncate(len);
    v
}

async fn upload(app: &TestApp, token: &str, form: Form, query: &str) -> portico_tests::Page {
    let c = app.client();
    let res = c
        .http
        .post(format!("{}/api/v1/p/capabilities/upload{query}", c.base))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    portico_tests::Page { status, headers, body: res.text().await.unwrap() }
}

/// Files of the capabilities plugin in the local blob store.
fn stored(app: &TestApp) -> usize {
    app.blob_files("/plugins/capabilities/uploads/").len()
}

#[tokio::test]
async fn uploads_are_judged_by_content_kept_with_the_call_and_downloaded_in_ranges() {
    for kind in [DbKind::Sqlite, DbKind::Postgres] {
        let app = spawn_app(kind).await;
        app.install(&capabilities().package(None), &["reseller", "msp"]).await;
        let bob = app.client().token("bob@northwind.example", "portico-demo").await;
        let alice = app.client().token("alice@northwind.example", "portico-demo").await;
        let doc = pdf(300_000);
        let form = Form::new()
            .text("note", "Q3 brochure")
            .part("file", Part::bytes(doc.clone()).file_name("brochure.pdf").mime_str("application/pdf").unwrap())
            .part("skip", Part::bytes(b"just passing".to_vec()).file_name("tmp.txt"));
        let up = upload(&app, &bob, form, "").await;
        assert_eq!(up.status, StatusCode::OK, "{}", up.body);
        let body = up.json();
        assert_eq!(body["note"], "Q3 brochure", "the other fields reach the plugin");
        let file = &body["files"][0];
        assert_eq!(file["content_type"], "application/pdf");
        assert_eq!(file["size"], 300_000);
        assert_eq!(file["filename"], "brochure.pdf");
        use sha2::Digest;
        assert_eq!(file["sha256"], hex::encode(sha2::Sha256::digest(&doc)));
        assert_eq!(stored(&app), 1, "the file it did not keep is gone");
        let key = file["key"].as_str().unwrap().to_string();

        // A disguised file (an HTML page named .pdf and labelled PDF), one too large, one of a type the form does
        // not take: each refused with what is wrong, nothing stored.
        for (name, data, says) in [
            ("invoice.pdf", b"<!DOCTYPE html><script>alert(1)</script>".to_vec(), "an HTML page"),
            ("big.pdf", pdf(3 << 20), "larger than 2 MiB"),
            ("setup.pdf", b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00".repeat(10), "a program"),
        ] {
            let form = Form::new().part("file", Part::bytes(data).file_name(name).mime_str("application/pdf").unwrap());
            let r = upload(&app, &bob, form, "").await;
            assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{name}: {}", r.body);
            assert!(r.json()["error"]["message"].as_str().unwrap().contains(says), "{name}: {}", r.body);
            assert_eq!(stored(&app), 1, "{name} left nothing behind");
        }
        // Kept in a call that fails: not kept.
        let form = Form::new().part("file", Part::bytes(pdf(1000)).file_name("x.pdf"));
        assert_eq!(upload(&app, &bob, form, "?then=fail").await.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(stored(&app), 1);

        // The plugin reads part of it without holding all of it.
        let read = app
            .client()
            .api(Method::GET, &format!("/api/v1/p/capabilities/read?key={key}&offset=0"), Some(&bob), None)
            .await;
        assert_eq!(read.json()["bytes"], "%PDF-1.7\n%\u{fffd}\u{fffd}\u{fffd}\u{fffd}\n1");

        // A link for bob's session: streamed with Range and an ETag; no good for another user or without a session.
        let link = app
            .client()
            .api(
                Method::GET,
                &format!("/api/v1/p/capabilities/link?key={key}&name=Brochure%20%C3%A9t%C3%A9.pdf&inline=1"),
                Some(&bob),
                None,
            )
            .await
            .json()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let c = app.client();
        let get = |token: Option<&str>, range: Option<&str>| {
            let mut r = c.http.get(format!("{}{link}", c.base));
            if let Some(t) = token {
                r = r.bearer_auth(t);
            }
            if let Some(range) = range {
                r = r.header("range", range);
            }
            r.send()
        };
        let whole = get(Some(&bob), None).await.unwrap();
        assert_eq!(whole.status(), StatusCode::OK);
        let etag = whole.headers()["etag"].to_str().unwrap().to_string();
        assert_eq!(whole.headers()["accept-ranges"], "bytes");
        assert!(whole.headers()["content-disposition"].to_str().unwrap().starts_with("inline"), "a PDF shows inline");
        assert!(
            whole.headers()["content-disposition"]
                .to_str()
                .unwrap()
                .contains("filename*=UTF-8''Brochure%20%C3%A9t%C3%A9.pdf")
        );
        assert!(whole.headers()["content-security-policy"].to_str().unwrap().starts_with("sandbox"));
        assert_eq!(whole.bytes().await.unwrap().to_vec(), doc);
        let part = get(Some(&bob), Some("bytes=100000-100099")).await.unwrap();
        assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
        assert_eq!(part.headers()["content-range"], "bytes 100000-100099/300000");
        assert_eq!(part.bytes().await.unwrap().to_vec(), doc[100_000..100_100]);
        let resumed = get(Some(&bob), Some("bytes=299000-")).await.unwrap();
        assert_eq!(resumed.bytes().await.unwrap().to_vec(), doc[299_000..]);
        let unchanged = c
            .http
            .get(format!("{}{link}", c.base))
            .bearer_auth(&bob)
            .header("if-none-match", &etag)
            .send()
            .await
            .unwrap();
        assert_eq!(unchanged.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(get(Some(&alice), None).await.unwrap().status(), StatusCode::NOT_FOUND, "another user's link");
        // Signed out, a browser is sent to sign in and then back to the file.
        let signed_out = get(None, None).await.unwrap();
        assert_eq!(signed_out.status(), StatusCode::SEE_OTHER);
        assert!(signed_out.headers()["location"].to_str().unwrap().starts_with("/login"), "{:?}", signed_out.headers());
        let tampered = link.replacen("/files/", "/files/x", 1);
        assert_eq!(
            c.http.get(format!("{}{tampered}", c.base)).bearer_auth(&bob).send().await.unwrap().status(),
            StatusCode::NOT_FOUND
        );

        // A public link (a share link) for whoever holds it, until it expires.
        let public = app
            .client()
            .api(
                Method::GET,
                &format!("/api/v1/p/capabilities/link?key={key}&name=b.pdf&public=1&ttl=60"),
                Some(&bob),
                None,
            )
            .await
            .json()["url"]
            .as_str()
            .unwrap()
            .to_string();
        let anyone = c.http.get(format!("{}{public}", c.base)).send().await.unwrap();
        assert_eq!(anyone.status(), StatusCode::OK);
        assert!(anyone.headers()["content-disposition"].to_str().unwrap().starts_with("attachment"));
        app.state.clock.advance(61_000);
        assert_eq!(
            c.http.get(format!("{}{public}", c.base)).send().await.unwrap().status(),
            StatusCode::NOT_FOUND,
            "expired"
        );
        // Keys of another plugin or tenant are not the plugin's to link.
        let foreign = app
            .client()
            .api(Method::GET, "/api/v1/p/capabilities/link?key=tenants/other/plugins/x/uploads/y", Some(&bob), None)
            .await;
        assert_eq!(foreign.status, StatusCode::FORBIDDEN);
    }
}

/// On an S3 store (moto, speaking the S3 protocol), a file larger than a part goes up as a multipart upload and
/// comes back whole and in ranges.
#[tokio::test]
async fn large_uploads_go_to_s3_in_parts() {
    let Some(s3) = portico_tests::process::S3Server::start().await else { return };
    let prefix = format!("files-{}", uuid::Uuid::new_v4());
    let app = portico_tests::spawn_app_with(DbKind::Sqlite, |c| {
        c.blob_url = Some(format!("s3://portico/{prefix}"));
        c.blob_options = s3.options();
    })
    .await;
    app.install(&capabilities().package(None), &["reseller", "msp"]).await;
    let bob = app.client().token("bob@northwind.example", "portico-demo").await;
    // 20 MiB: three parts of the host's 8 MiB.
    let data: Vec<u8> = (0..20u32 << 20).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8).collect();
    let c = app.client();
    let form = Form::new().part("file", Part::bytes(data.clone()).file_name("big.bin"));
    let res = c
        .http
        .post(format!("{}/api/v1/p/capabilities/upload-large", c.base))
        .bearer_auth(&bob)
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.unwrap();
    let key = body["files"][0]["key"].as_str().unwrap().to_string();
    use sha2::Digest;
    assert_eq!(body["files"][0]["sha256"], hex::encode(sha2::Sha256::digest(&data)));
    let link = c
        .api(Method::GET, &format!("/api/v1/p/capabilities/link?key={key}&name=big.bin"), Some(&bob), None)
        .await
        .json()["url"]
        .as_str()
        .unwrap()
        .to_string();
    let whole = c.http.get(format!("{}{link}", c.base)).bearer_auth(&bob).send().await.unwrap();
    assert_eq!(whole.status(), StatusCode::OK);
    assert_eq!(whole.bytes().await.unwrap().len(), data.len());
    let part = c
        .http
        .get(format!("{}{link}", c.base))
        .bearer_auth(&bob)
        .header("range", "bytes=16777200-16777299")
        .send()
        .await
        .unwrap();
    assert_eq!(part.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(part.bytes().await.unwrap().to_vec(), data[16_777_200..16_777_300], "a range across two parts");
}
