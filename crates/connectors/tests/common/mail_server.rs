//! A real local mail server for the email tests: Debian's dovecot (IMAP, plain on one port
//! and TLS on another, with a self-signed certificate) and postfix (SMTP with STARTTLS,
//! logging in through dovecot's SASL, delivering into the same maildirs dovecot reads), each
//! started from a configuration in a temporary directory and stopped when dropped. The
//! mailboxes are [`USERS`] `@acme.test`, each with the password [`PASSWORD`].
//!
//! Without dovecot and postfix (or without root, which postfix needs to start) the suite says
//! SKIPPED; with `BATON_TEST_REQUIRE_SERVICES=1` it fails instead. A test crate including
//! this file declares `skip` (`crates/store/tests/harness/skip.rs`) at its root.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

// The including test crate has `skip` (crates/store/tests/harness/skip.rs) at its root.
use super::skip;

pub const PASSWORD: &str = "secret-pass";

/// The mailboxes, each `name@acme.test`.
pub const USERS: [&str; 3] = ["ann", "bob", "carol"];

/// The uid and gid both servers keep mail as (`nobody`, `nogroup`).
const MAIL_ID: u32 = 65534;

pub struct MailServer {
    dir: tempfile::TempDir,
    pub imap_port: u16,
    pub imaps_port: u16,
    pub smtp_port: u16,
    postfix: PathBuf,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn answers(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// Runs a command to its end. What it prints goes to `log` rather than to a pipe: a daemon it
/// starts keeps the pipe open, and waiting for that would never end.
fn run(command: &mut Command, what: &str, log: &Path) {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .unwrap();
    let status = command
        .stdin(std::process::Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap_or_else(|error| panic!("{what}: {error}"));
    assert!(
        status.success(),
        "{what} failed: {}",
        std::fs::read_to_string(log).unwrap_or_default()
    );
}

impl MailServer {
    /// Starts both servers, or says SKIPPED and gives `None` when this machine cannot.
    pub fn start(suite: &str) -> Option<Self> {
        let present = |binary: &str| Path::new(binary).exists();
        if !present("/usr/sbin/dovecot") || !present("/usr/sbin/postfix") {
            skip::skipped(
                suite,
                "up dovecot-imapd and postfix (apt-get install dovecot-imapd postfix)",
            );
            return None;
        }
        let root_user = {
            use std::os::unix::fs::MetadataExt;
            std::fs::metadata("/proc/self").is_ok_and(|process| process.uid() == 0)
        };
        if !root_user {
            skip::skipped(suite, "root, which postfix needs to start,");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let at = |name: &str| root.join(name).display().to_string();
        for sub in [
            "mail",
            "run",
            "state",
            "postfix",
            "postfix/queue",
            "postfix/data",
        ] {
            std::fs::create_dir_all(root.join(sub)).unwrap();
        }
        set_mode(&root.join("mail"), 0o777);
        set_mode(dir.path(), 0o755);
        std::os::unix::fs::chown(root.join("postfix/data"), Some(postfix_uid()), None).unwrap();
        run(
            Command::new("openssl").args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=mail.acme.test",
                "-addext",
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "-keyout",
                &at("key.pem"),
                "-out",
                &at("cert.pem"),
            ]),
            "openssl making the test certificate",
            &root.join("start.log"),
        );
        set_mode(&root.join("key.pem"), 0o644);
        let (imap_port, imaps_port, smtp_port) = (free_port(), free_port(), free_port());
        std::fs::write(
            root.join("dovecot.conf"),
            format!(
                r#"protocols = imap
listen = 127.0.0.1
base_dir = {run}
state_dir = {state}
log_path = {log}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = dovenull
default_internal_user = dovecot
default_internal_group = dovecot
passdb {{
  driver = static
  args = password={PASSWORD}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={mail}/%u
}}
mail_location = maildir:{mail}/%u
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service auth {{
  unix_listener {auth} {{
    mode = 0666
  }}
}}
namespace inbox {{
  inbox = yes
  mailbox Archive {{
    auto = create
  }}
  mailbox Sent {{
    auto = create
    special_use = \Sent
  }}
}}
"#,
                run = at("run"),
                state = at("state"),
                log = at("dovecot.log"),
                cert = at("cert.pem"),
                key = at("key.pem"),
                mail = at("mail"),
                auth = at("auth-postfix"),
            ),
        )
        .unwrap();
        let postfix = root.join("postfix");
        std::fs::write(
            postfix.join("main.cf"),
            format!(
                r#"compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = mail.acme.test
mydestination =
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = acme.test
virtual_mailbox_base = {mail}
virtual_mailbox_maps = texthash:{maps}
virtual_uid_maps = static:{MAIL_ID}
virtual_gid_maps = static:{MAIL_ID}
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {auth}
smtpd_tls_security_level = may
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_relay_restrictions = permit_sasl_authenticated, reject
maillog_file = {log}
maillog_file_prefixes = {root}
alias_maps =
alias_database =
"#,
                queue = at("postfix/queue"),
                data = at("postfix/data"),
                mail = at("mail"),
                maps = at("postfix/mailboxes"),
                auth = at("auth-postfix"),
                cert = at("cert.pem"),
                key = at("key.pem"),
                log = at("postfix/maillog"),
                root = root.display(),
            ),
        )
        .unwrap();
        // Each mailbox is a maildir named after its address.
        let mailboxes: String = USERS
            .iter()
            .map(|user| format!("{user}@acme.test {user}@acme.test/\n"))
            .collect();
        std::fs::write(postfix.join("mailboxes"), mailboxes).unwrap();
        std::fs::write(
            postfix.join("master.cf"),
            format!(
                "127.0.0.1:{smtp_port} inet n - n - - smtpd\n{}",
                [
                    "cleanup unix n - n - 0 cleanup",
                    "qmgr unix n - n 300 1 qmgr",
                    "rewrite unix - - n - - trivial-rewrite",
                    "bounce unix - - n - 0 bounce",
                    "defer unix - - n - 0 bounce",
                    "trace unix - - n - 0 bounce",
                    "verify unix - - n - 1 verify",
                    "proxymap unix - - n - - proxymap",
                    "smtp unix - - n - - smtp",
                    "relay unix - - n - - smtp",
                    "error unix - - n - - error",
                    "retry unix - - n - - error",
                    "discard unix - - n - - discard",
                    "virtual unix - n n - - virtual",
                    "anvil unix - - n - 1 anvil",
                    "scache unix - - n - 1 scache",
                    "tlsmgr unix - - n 1000? 1 tlsmgr",
                    "postlog unix-dgram n - n - 1 postlogd",
                ]
                .join("\n")
                    + "\n"
            ),
        )
        .unwrap();
        run(
            Command::new("/usr/sbin/dovecot")
                .arg("-c")
                .arg(root.join("dovecot.conf")),
            "starting dovecot",
            &root.join("start.log"),
        );
        let server = Self {
            imap_port,
            imaps_port,
            smtp_port,
            postfix: postfix.clone(),
            dir,
        };
        run(
            Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(&postfix)
                .arg("start"),
            "starting postfix",
            &root.join("start.log"),
        );
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(answers(imap_port) && answers(imaps_port) && answers(smtp_port)) {
            assert!(
                Instant::now() < deadline,
                "the mail servers did not start: {}",
                server.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(server)
    }

    /// Both servers' logs, for a failing test to show.
    pub fn logs(&self) -> String {
        let read =
            |name: &str| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
        format!(
            "dovecot:\n{}\npostfix:\n{}",
            read("dovecot.log"),
            read("postfix/maillog")
        )
    }

    /// The connection's fields for `user`@acme.test: IMAP with `imap_security` (`tls` on the
    /// TLS port, otherwise the plain one) and SMTP with STARTTLS; the test certificate is
    /// self-signed, so it is accepted as such.
    pub fn account(&self, user: &str, imap_security: &str) -> Value {
        let imap_port = if imap_security == "tls" {
            self.imaps_port
        } else {
            self.imap_port
        };
        json!({
            "email": format!("{user}@acme.test"),
            "password": PASSWORD,
            "imap_host": "127.0.0.1",
            "imap_port": imap_port.to_string(),
            "imap_security": imap_security,
            "smtp_host": "127.0.0.1",
            "smtp_port": self.smtp_port.to_string(),
            "smtp_security": "starttls",
            "allow_self_signed": true,
        })
    }

    fn maildir(&self, user: &str) -> PathBuf {
        self.dir
            .path()
            .join("mail")
            .join(format!("{user}@acme.test"))
    }

    /// Puts a message straight into `user`'s inbox, as a delivery agent does.
    pub fn deliver(&self, user: &str, raw: &str) {
        static COUNT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let maildir = self.maildir(user);
        for sub in ["", "new", "cur", "tmp"] {
            let path = maildir.join(sub);
            std::fs::create_dir_all(&path).unwrap();
            std::os::unix::fs::chown(&path, Some(MAIL_ID), Some(MAIL_ID)).unwrap();
        }
        let n = COUNT.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!(
            "{}.P{}Q{n}.test",
            chrono::Utc::now().timestamp(),
            std::process::id()
        );
        let temporary = maildir.join("tmp").join(&name);
        std::fs::write(&temporary, raw.replace('\n', "\r\n")).unwrap();
        std::os::unix::fs::chown(&temporary, Some(MAIL_ID), Some(MAIL_ID)).unwrap();
        std::fs::rename(&temporary, maildir.join("new").join(&name)).unwrap();
    }

    /// The messages in `user`'s inbox as they are on disk, oldest first.
    pub fn inbox_messages(&self, user: &str) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir(user).join(sub)).ok())
            .flatten()
            .filter_map(|entry| {
                let entry = entry.ok()?;
                Some((entry.metadata().ok()?.modified().ok()?, entry.path()))
            })
            .collect();
        files.sort();
        files
            .into_iter()
            .filter_map(|(_, path)| std::fs::read_to_string(path).ok())
            .collect()
    }

    /// How many messages `user`'s inbox holds on disk (new and seen alike).
    pub fn inbox_count(&self, user: &str) -> usize {
        ["new", "cur"]
            .iter()
            .filter_map(|sub| std::fs::read_dir(self.maildir(user).join(sub)).ok())
            .map(Iterator::count)
            .sum()
    }
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn postfix_uid() -> u32 {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            (fields.first() == Some(&"postfix")).then(|| fields.get(2)?.parse().ok())?
        })
        .expect("the postfix user exists once postfix is installed")
}

impl Drop for MailServer {
    fn drop(&mut self) {
        let quiet = |command: &mut Command| {
            let _ = command
                .stdin(std::process::Stdio::null())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .status();
        };
        quiet(
            Command::new("/usr/sbin/postfix")
                .arg("-c")
                .arg(&self.postfix)
                .arg("stop"),
        );
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("run/master.pid")) {
            quiet(Command::new("kill").arg(pid.trim()));
        }
    }
}
