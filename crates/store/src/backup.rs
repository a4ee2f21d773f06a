//! What `baton backup` and `baton restore` need of the database itself: a consistent copy of a
//! SQLite file taken beside the process serving it, and whether a database already holds
//! anything (a restore only ever fills an empty one). PostgreSQL is copied by its own
//! `pg_dump`, which reads one snapshot of the whole database.
//!
//! A backup file is sealed with a key the operator holds (not the master key, which must be
//! kept apart from the backups): AES-256-GCM in the STREAM construction (`aead-stream`), 64 KiB
//! per chunk, so a file of any size is sealed and opened in constant memory, and a cut, swapped
//! or changed chunk is refused. The header (magic, what the copy is, the key's id, the nonce
//! prefix) is bound to every chunk as associated data.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::time::Duration;

use aead_stream::{DecryptorBE32, EncryptorBE32};
use aes_gcm::aead::{KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use base64::Engine;
use sha2::{Digest, Sha256};
use sqlx::Connection;

use crate::{DatabaseUrl, Result, StoreError};

const MAGIC: &[u8; 8] = b"BATONBK\x01";
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const KEY_ID_LEN: usize = 15;
const NONCE_LEN: usize = 7;
const HEADER_LEN: usize = MAGIC.len() + 1 + KEY_ID_LEN + NONCE_LEN;

/// What a backup holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackupKind {
    /// A SQLite database file.
    Sqlite,
    /// A `pg_dump --format=custom` archive.
    PostgresDump,
}

impl BackupKind {
    fn byte(self) -> u8 {
        match self {
            Self::Sqlite => 1,
            Self::PostgresDump => 2,
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            1 => Some(Self::Sqlite),
            2 => Some(Self::PostgresDump),
            _ => None,
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Self::Sqlite => "a SQLite database",
            Self::PostgresDump => "a PostgreSQL database",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("a backup key must be 32 bytes in base64: {0}")]
    BadKey(String),
    #[error("this is not a Baton backup file")]
    NotABackup,
    #[error("this backup was sealed with backup key {made_with}, not the key given ({given})")]
    WrongKey { made_with: String, given: String },
    #[error("the backup is damaged or cut short: a chunk does not open (after {0} bytes)")]
    Damaged(u64),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The key backups are sealed with. Its `Debug` shows only its id.
#[derive(Clone)]
pub struct BackupKey {
    id: String,
    key: [u8; 32],
}

impl std::fmt::Debug for BackupKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "BackupKey({})", self.id)
    }
}

impl BackupKey {
    pub fn generate() -> Self {
        Self::from_bytes(rand::random())
    }

    fn from_bytes(key: [u8; 32]) -> Self {
        let digest = Sha256::digest([b"baton backup key ".as_slice(), &key].concat());
        let id: String = digest[..6]
            .iter()
            .map(|byte| format!("{byte:02x}"))
            .collect();
        Self {
            id: format!("bk_{id}"),
            key,
        }
    }

    /// Reads a key in standard or URL-safe base64 (surrounding blanks ignored).
    pub fn from_base64(text: &str) -> Result<Self, BackupError> {
        crate::vault::key_from_base64(text)
            .map(Self::from_bytes)
            .map_err(BackupError::BadKey)
    }

    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key)
    }

    /// A short name that reveals nothing of the key, e.g. `bk_3f2a9c01b7de`.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// Reads into `buffer` until it is full or the input ends; the bytes read.
fn fill(reader: &mut impl Read, buffer: &mut [u8]) -> std::io::Result<usize> {
    let mut read = 0;
    while read < buffer.len() {
        match reader.read(&mut buffer[read..]) {
            Ok(0) => break,
            Ok(count) => read += count,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(read)
}

/// Whether the input has nothing more.
fn at_end(reader: &mut impl BufRead) -> std::io::Result<bool> {
    Ok(reader.fill_buf()?.is_empty())
}

/// Seals everything `input` yields as a backup of `kind` into `output`; the plaintext bytes.
pub fn seal(
    input: impl Read,
    mut output: impl Write,
    kind: BackupKind,
    key: &BackupKey,
) -> Result<u64, BackupError> {
    let mut input = BufReader::with_capacity(CHUNK, input);
    let nonce: [u8; NONCE_LEN] = rand::random();
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(MAGIC);
    header.push(kind.byte());
    header.extend_from_slice(key.id.as_bytes());
    header.extend_from_slice(&nonce);
    output.write_all(&header)?;
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key.key));
    let mut encryptor = EncryptorBE32::from_aead(cipher, &nonce.into());
    let mut chunk = vec![0; CHUNK];
    let mut total = 0u64;
    loop {
        let read = fill(&mut input, &mut chunk)?;
        total += read as u64;
        let payload = Payload {
            msg: &chunk[..read],
            aad: &header,
        };
        if read < CHUNK || at_end(&mut input)? {
            let sealed = encryptor
                .encrypt_last(payload)
                .map_err(|_| std::io::Error::other("sealing failed"))?;
            output.write_all(&sealed)?;
            break;
        }
        let sealed = encryptor
            .encrypt_next(payload)
            .map_err(|_| std::io::Error::other("sealing failed"))?;
        output.write_all(&sealed)?;
    }
    output.flush()?;
    Ok(total)
}

/// Reads a backup's header: what it holds and the id of the key that sealed it.
fn read_header(input: &mut impl Read) -> Result<(Vec<u8>, BackupKind, String), BackupError> {
    let mut header = vec![0; HEADER_LEN];
    if fill(input, &mut header)? < HEADER_LEN || &header[..MAGIC.len()] != MAGIC {
        return Err(BackupError::NotABackup);
    }
    let kind = BackupKind::from_byte(header[MAGIC.len()]).ok_or(BackupError::NotABackup)?;
    let id = String::from_utf8_lossy(&header[MAGIC.len() + 1..MAGIC.len() + 1 + KEY_ID_LEN])
        .into_owned();
    Ok((header, kind, id))
}

/// What a backup holds, without opening it: its kind and its key's id.
pub fn inspect(mut input: impl Read) -> Result<(BackupKind, String), BackupError> {
    let (_, kind, id) = read_header(&mut input)?;
    Ok((kind, id))
}

/// Opens a backup sealed with `key`, writing what it holds to `output`; its kind and size.
/// Nothing of a chunk is written before that chunk is proven whole.
pub fn open(
    input: impl Read,
    mut output: impl Write,
    key: &BackupKey,
) -> Result<(BackupKind, u64), BackupError> {
    let mut input = BufReader::with_capacity(CHUNK + TAG, input);
    let (header, kind, made_with) = read_header(&mut input)?;
    if made_with != key.id {
        return Err(BackupError::WrongKey {
            made_with,
            given: key.id.clone(),
        });
    }
    let nonce: [u8; NONCE_LEN] = header[HEADER_LEN - NONCE_LEN..]
        .try_into()
        .expect("the header ends with the nonce");
    let cipher = Aes256Gcm::new(&Key::<Aes256Gcm>::from(key.key));
    let mut decryptor = DecryptorBE32::from_aead(cipher, &nonce.into());
    let mut chunk = vec![0; CHUNK + TAG];
    let mut total = 0u64;
    loop {
        let read = fill(&mut input, &mut chunk)?;
        let payload = Payload {
            msg: &chunk[..read],
            aad: &header,
        };
        if read < CHUNK + TAG || at_end(&mut input)? {
            let plain = decryptor
                .decrypt_last(payload)
                .map_err(|_| BackupError::Damaged(total))?;
            output.write_all(&plain)?;
            total += plain.len() as u64;
            break;
        }
        let plain = decryptor
            .decrypt_next(payload)
            .map_err(|_| BackupError::Damaged(total))?;
        output.write_all(&plain)?;
        total += plain.len() as u64;
    }
    output.flush()?;
    Ok((kind, total))
}

/// Copies the SQLite database at `database` into the new file `into` with `VACUUM INTO`: one
/// read transaction, so the copy is the database as it stood at one commit, whatever the
/// serving process writes meanwhile (WAL readers never block the writer, nor it them).
pub fn sqlite_snapshot(database: &Path, into: &Path) -> Result<()> {
    if !database.is_file() {
        return Err(StoreError::Connect(format!(
            "there is no database at {}",
            database.display()
        )));
    }
    let connection = rusqlite::Connection::open_with_flags(
        database,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(Duration::from_secs(30))?;
    let into = into
        .to_str()
        .ok_or_else(|| StoreError::Connect(format!("{} is not UTF-8", into.display())))?;
    connection.execute("VACUUM INTO ?1", [into])?;
    Ok(())
}

/// Checks that the SQLite file at `path` is a whole, readable database.
pub fn sqlite_check(path: &Path) -> Result<()> {
    let connection =
        rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let verdict: String = connection.query_row("PRAGMA integrity_check", [], |row| row.get(0))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "the restored database fails its integrity check: {verdict}"
        )))
    }
}

/// The number of tables the database holds (in PostgreSQL, in the schema it uses); 0 when the
/// SQLite file does not exist yet.
pub async fn table_count(url: &DatabaseUrl) -> Result<i64> {
    match url {
        DatabaseUrl::Sqlite(path) => {
            if !path.exists() {
                return Ok(0);
            }
            let connection = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )?;
            Ok(connection.query_row(
                "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
                [],
                |row| row.get(0),
            )?)
        }
        DatabaseUrl::Postgres(options, _) => {
            let mut connection = sqlx::PgConnection::connect_with(options)
                .await
                .map_err(|error| StoreError::Connect(error.to_string()))?;
            let (count,): (i64,) = sqlx::query_as(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()",
            )
            .fetch_one(&mut connection)
            .await?;
            connection.close().await.ok();
            Ok(count)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealed(plain: &[u8], key: &BackupKey) -> Vec<u8> {
        let mut out = Vec::new();
        assert_eq!(
            seal(plain, &mut out, BackupKind::Sqlite, key).unwrap(),
            plain.len() as u64
        );
        out
    }

    #[test]
    fn a_sealed_backup_opens_with_its_key_only_and_refuses_any_change() {
        let key = BackupKey::generate();
        assert!(key.id().starts_with("bk_") && key.id().len() == KEY_ID_LEN);
        assert_eq!(
            BackupKey::from_base64(&key.to_base64()).unwrap().id(),
            key.id()
        );
        // Empty, short, exactly one chunk, several chunks and a tail.
        for size in [0, 10, CHUNK, 3 * CHUNK + 17] {
            let plain: Vec<u8> = (0..size).map(|n| (n % 251) as u8).collect();
            let file = sealed(&plain, &key);
            assert!(
                !file
                    .windows(64)
                    .any(|w| plain.len() >= 64 && w == &plain[..64]),
                "the plaintext does not show"
            );
            let mut back = Vec::new();
            assert_eq!(
                open(file.as_slice(), &mut back, &key).unwrap(),
                (BackupKind::Sqlite, size as u64)
            );
            assert_eq!(back, plain, "size {size}");
            assert_eq!(
                inspect(file.as_slice()).unwrap(),
                (BackupKind::Sqlite, key.id().to_owned())
            );
        }

        let plain = vec![7u8; 2 * CHUNK + 5];
        let file = sealed(&plain, &key);
        let other = BackupKey::generate();
        let wrong = open(file.as_slice(), std::io::sink(), &other).unwrap_err();
        assert!(
            wrong.to_string().contains(key.id()) && wrong.to_string().contains(other.id()),
            "{wrong}"
        );
        // A flipped byte, a lost last chunk, a lost middle chunk: refused, never half-read.
        let mut flipped = file.clone();
        flipped[HEADER_LEN + 100] ^= 1;
        assert!(matches!(
            open(flipped.as_slice(), std::io::sink(), &key),
            Err(BackupError::Damaged(0))
        ));
        let cut = &file[..HEADER_LEN + 2 * (CHUNK + TAG)];
        assert!(matches!(
            open(cut, std::io::sink(), &key),
            Err(BackupError::Damaged(_))
        ));
        let mut spliced = file[..HEADER_LEN + CHUNK + TAG].to_vec();
        spliced.extend_from_slice(&file[HEADER_LEN + 2 * (CHUNK + TAG)..]);
        assert!(matches!(
            open(spliced.as_slice(), std::io::sink(), &key),
            Err(BackupError::Damaged(_))
        ));
        // The header is bound too: relabelling the kind is refused.
        let mut relabelled = file.clone();
        relabelled[MAGIC.len()] = BackupKind::PostgresDump.byte();
        assert!(open(relabelled.as_slice(), std::io::sink(), &key).is_err());
        assert!(matches!(
            open(&b"PK\x03\x04 not a backup"[..], std::io::sink(), &key),
            Err(BackupError::NotABackup)
        ));
        assert!(
            BackupKey::from_base64("c2hvcnQ=")
                .unwrap_err()
                .to_string()
                .contains("32 bytes")
        );
    }

    #[tokio::test]
    async fn a_snapshot_is_a_whole_database_taken_while_another_connection_writes() {
        let dir = tempfile::tempdir().unwrap();
        let database = dir.path().join("baton.db");
        let writer = rusqlite::Connection::open(&database).unwrap();
        writer
            .execute_batch(
                "PRAGMA journal_mode = WAL; CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2);",
            )
            .unwrap();
        // A transaction left open by the "server": its row is not committed, so not copied.
        writer
            .execute_batch("BEGIN; INSERT INTO t VALUES (3);")
            .unwrap();
        let copy = dir.path().join("copy.db");
        sqlite_snapshot(&database, &copy).unwrap();
        writer.execute_batch("COMMIT;").unwrap();
        sqlite_check(&copy).unwrap();
        let copied = rusqlite::Connection::open(&copy).unwrap();
        let rows: i64 = copied
            .query_row("SELECT count(*) FROM t", [], |row| row.get(0))
            .unwrap();
        assert_eq!(rows, 2, "the committed rows, not the open transaction's");
        assert_eq!(
            table_count(&DatabaseUrl::Sqlite(copy)).await.unwrap(),
            1,
            "one table"
        );
        assert_eq!(
            table_count(&DatabaseUrl::Sqlite(dir.path().join("none.db")))
                .await
                .unwrap(),
            0
        );
        let missing = sqlite_snapshot(&dir.path().join("none.db"), &dir.path().join("x.db"))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("there is no database at"), "{missing}");
    }
}
