//! Mail through a real SMTP server (an embedded one on loopback), and what happens when delivery fails.

use std::net::TcpListener;
use std::sync::{Arc, Mutex};

use mailin_embedded::{Handler, Server, SslConfig};
use portico::config::{SmtpConfig, SmtpTls};
use portico_tests::{DbKind, spawn_app_with};
use reqwest::StatusCode;

/// Collects every message's DATA.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<String>>>);

impl Handler for Inbox {
    fn data(&mut self, buf: &[u8]) -> std::io::Result<()> {
        let mut all = self.0.lock().unwrap();
        match all.last_mut() {
            Some(last) if !last.ends_with("\u{0}") => last.push_str(&String::from_utf8_lossy(buf)),
            _ => all.push(String::from_utf8_lossy(buf).into_owned()),
        }
        Ok(())
    }

    fn data_end(&mut self) -> mailin_embedded::Response {
        if let Some(last) = self.0.lock().unwrap().last_mut() {
            last.push('\u{0}');
        }
        mailin_embedded::response::OK
    }
}

fn smtp_server() -> (u16, Inbox) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let inbox = Inbox::default();
    let mut server = Server::new(inbox.clone());
    server.with_name("smtp.test").with_ssl(SslConfig::None).unwrap().with_tcp_listener(listener);
    std::thread::spawn(move || {
        let _ = server.serve();
    });
    (port, inbox)
}

fn smtp_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        username: None,
        password: None,
        tls: SmtpTls::None,
        from: "Acme Partners <partners@acme.example>".into(),
    }
}

#[tokio::test]
async fn invitations_are_delivered_over_smtp() {
    let (port, inbox) = smtp_server();
    let app = spawn_app_with(DbKind::Sqlite, |c| c.smtp = Some(smtp_config(port))).await;
    let mut alice = app.client();
    alice.login_ok("alice@northwind.example").await;
    alice.get("/org/users/invite").await;
    let page = alice
        .post(
            "/org/users/invite",
            &[("name", "Sam Smtp"), ("email", "sam@northwind.example"), ("role", "partner_user")],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let mails = inbox.0.lock().unwrap().clone();
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert!(mail.contains("To: sam@northwind.example"));
    assert!(
        mail.contains("From: \"Acme Partners\" <partners@acme.example>")
            || mail.contains("From: Acme Partners <partners@acme.example>"),
        "{mail}"
    );
    let link =
        regex::Regex::new(r"/invite/([A-Za-z0-9_-]+)").unwrap().captures(mail).expect("link in mail")[0].to_string();
    let mut sam = app.client();
    assert_eq!(sam.get(&link).await.status, StatusCode::OK);
    // The log says it was sent, and nothing was kept on disk.
    let t = app.tenant_id("acme").await;
    let log = app.state.db.tenant(&t).list_mail(&Default::default()).await.unwrap();
    assert_eq!(log.items[0].status, "sent");
    assert!(!app.data_dir.join("mail").exists());
    // The admins' copy withholds the link, so an admin cannot use someone else's invitation or reset.
    let token = link.trim_start_matches("/invite/");
    assert!(!log.items[0].body.contains(token));
    assert!(log.items[0].body.contains(portico::mail::WITHHELD));
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    admin.get("/forgot").await;
    admin.post("/forgot", &[("email", "manager@acme.example")]).await;
    let mails = inbox.0.lock().unwrap().clone();
    let reset =
        regex::Regex::new(r"/reset/([A-Za-z0-9_-]+)").unwrap().captures(&mails[1]).expect("reset link")[1].to_string();
    let mail_page = admin.get("/admin/mail").await;
    assert!(mail_page.body.contains("Reset your"), "the reset mail is listed");
    assert!(!mail_page.body.contains(&reset), "but not its link");
    assert!(!mail_page.body.contains(token));
}

#[tokio::test]
async fn a_delivery_failure_is_recorded_and_the_invitation_can_be_resent() {
    // Nothing listens on this port.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let app = spawn_app_with(DbKind::Sqlite, |c| c.smtp = Some(smtp_config(closed))).await;
    let mut admin = app.client();
    admin.login_ok("admin@acme.example").await;
    let t = app.tenant_id("acme").await;
    let vendor = app.state.db.tenant(&t).vendor_org().await.unwrap().unwrap();
    admin.get("/admin/users/invite").await;
    let page = admin
        .post(
            "/admin/users/invite",
            &[("name", "Fay Fail"), ("email", "fay@acme.example"), ("role", "channel_manager"), ("org_id", &vendor.id)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    let log = app.state.db.tenant(&t).list_mail(&Default::default()).await.unwrap();
    assert_eq!(log.items[0].status, "failed");
    assert!(!log.items[0].error.is_empty());
    let mail_page = admin.get("/admin/mail").await;
    assert!(mail_page.body.contains("failed"));
    let fay = app.state.db.tenant(&t).user_by_email("fay@acme.example").await.unwrap().unwrap();
    let page = admin.post(&format!("/admin/users/{}/resend", fay.id), &[]).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(app.state.db.tenant(&t).list_mail(&Default::default()).await.unwrap().total, 2);
}
