//! `bidseal envelope`: encrypt a file to several certificates (多证书数字信封), decrypt it with
//! one recipient's certificate and local private key, and list an envelope's recipients.
//!
//! Thin: argument parsing, progress on stderr and result lines on stdout; the work is in
//! `bidseal_cms::envelope`. Decryption with a key held by the phone goes through the opening
//! flow (`bidseal open`), not through this command.

use anyhow::{anyhow, Result};
use bidseal_cms::cert::Certificate;
use bidseal_cms::envelope::{
    decrypt_file, encrypt_file, inspect_file, EnvelopeError, LocalKeyAgreement, RecipientBinding,
    RecipientSet,
};
use clap::{Args, Subcommand};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

/// True while a progress line without its final newline is on stderr.
static PROGRESS_LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// Files smaller than this get no progress line.
const PROGRESS_THRESHOLD: u64 = 16 << 20;

/// `bidseal envelope …`
#[derive(Debug, Args)]
pub struct EnvelopeArgs {
    #[command(subcommand)]
    command: EnvelopeCommand,
}

#[derive(Debug, Subcommand)]
enum EnvelopeCommand {
    /// 加密文件，任一接收证书均可解密 / encrypt IN to every --to certificate
    #[command(
        after_help = "示例 / example:\n  bidseal envelope encrypt 投标文件.pdf 投标文件.bsbid --to a.pem --to b.pem"
    )]
    Encrypt {
        /// 要加密的文件 / plaintext file
        input: PathBuf,
        /// 输出的加密文件（CMS AuthEnvelopedData, DER） / envelope to write
        output: PathBuf,
        /// 接收证书（PEM 或 DER，可多次指定，一个文件可含多张证书） / recipient certificate(s)
        #[arg(long = "to", required = true, value_name = "CERT.pem")]
        to: Vec<PathBuf>,
    },
    /// 用接收证书及其私钥解密 / decrypt IN with a recipient certificate and its key
    #[command(
        after_help = "示例 / example:\n  bidseal envelope decrypt 投标文件.bsbid 投标文件.pdf --key k.pem --cert c.pem\n\n退出码：0 已解密且完整；1 文件被篡改或不是接收者；3 文件无法读取或格式错误"
    )]
    Decrypt {
        /// 加密文件 / envelope
        input: PathBuf,
        /// 输出的明文文件（校验通过后才出现） / plaintext to write (appears only if intact)
        output: PathBuf,
        /// 私钥（PEM） / private key
        #[arg(long, value_name = "K.pem")]
        key: PathBuf,
        /// 与私钥配对的证书（PEM） / the certificate of that key
        #[arg(long, value_name = "C.pem")]
        cert: PathBuf,
    },
    /// 列出加密文件的接收者（只读文件头，不解密，不校验内容） / list an envelope's recipients
    #[command(after_help = "示例 / example:\n  bidseal envelope inspect 投标文件.bsbid --json")]
    Inspect {
        /// 加密文件 / envelope
        file: PathBuf,
        /// 以 JSON 输出（字段见 docs/cli.md） / print JSON (schema in docs/cli.md)
        #[arg(long)]
        json: bool,
    },
}

/// Runs the command.
pub fn run(args: EnvelopeArgs) -> Result<ExitCode> {
    let result = match args.command {
        EnvelopeCommand::Encrypt { input, output, to } => encrypt(&input, &output, &to),
        EnvelopeCommand::Decrypt {
            input,
            output,
            key,
            cert,
        } => decrypt(&input, &output, &key, &cert),
        EnvelopeCommand::Inspect { file, json } => inspect(&file, json),
    };
    if result.is_err() && PROGRESS_LINE_OPEN.swap(false, Ordering::Relaxed) {
        eprintln!();
    }
    result
        .map(|()| ExitCode::SUCCESS)
        .map_err(|e| anyhow!("[{}] {e}", e.code()))
}

fn load_certificates(paths: &[PathBuf]) -> Result<Vec<Certificate>, EnvelopeError> {
    let mut certificates = Vec::new();
    for path in paths {
        let bytes = std::fs::read(path).map_err(|e| EnvelopeError::Io {
            path: path.clone(),
            source: e,
        })?;
        let found = Certificate::many_from_pem_or_der(&bytes).map_err(|e| {
            EnvelopeError::CertificateUnreadable {
                detail: format!("{}：{e}", path.display()),
            }
        })?;
        certificates.extend(found);
    }
    Ok(certificates)
}

/// Prints "<verb> 37%" on stderr when the percentage changes, for large files only.
fn progress_printer(verb: String) -> impl FnMut(u64, u64) + Send {
    let mut last = None;
    move |done, total| {
        if total < PROGRESS_THRESHOLD {
            return;
        }
        let percent = done.saturating_mul(100) / total.max(1);
        if last != Some(percent) {
            last = Some(percent);
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\r{}",
                crate::words!(
                    "out.envelope.progress",
                    verb = verb,
                    percent = format!("{percent:>3}"),
                    done = done >> 20,
                    total = total >> 20
                )
            );
            PROGRESS_LINE_OPEN.store(true, Ordering::Relaxed);
            if done >= total {
                let _ = writeln!(err);
                PROGRESS_LINE_OPEN.store(false, Ordering::Relaxed);
            }
            let _ = err.flush();
        }
    }
}

fn encrypt(input: &Path, output: &Path, to: &[PathBuf]) -> Result<(), EnvelopeError> {
    let recipients = RecipientSet::new(load_certificates(to)?, SystemTime::now())?;
    let mut progress = progress_printer(crate::words!("out.envelope.encrypting"));
    let summary = encrypt_file(input, output, &recipients, &mut progress)?;
    crate::say!(
        "out.envelope.encrypted",
        input = input.display(),
        output = output.display(),
        bytes = summary.envelope_len,
        recipients = summary.recipients
    );
    for recipient in recipients.recipients() {
        let c = recipient.certificate();
        crate::say!(
            "out.envelope.recipient",
            subject = c.subject_string(),
            serial = c.serial_hex()
        );
    }
    Ok(())
}

fn decrypt(input: &Path, output: &Path, key: &Path, cert: &Path) -> Result<(), EnvelopeError> {
    let agreement = LocalKeyAgreement::from_pem_files(cert, key)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| EnvelopeError::Agreement {
            detail: format!("无法启动运行时：{e}"),
        })?;
    let mut progress = progress_printer(crate::words!("out.envelope.decrypting"));
    let summary = runtime.block_on(decrypt_file(input, output, &agreement, &mut progress))?;
    crate::say!(
        "out.envelope.decrypted",
        input = input.display(),
        output = output.display(),
        bytes = summary.plaintext_len
    );
    crate::say!(
        "out.envelope.opened_as",
        recipient = crate::cmd::lang::phrase(&summary.opened_as)
    );
    if summary.binding == RecipientBinding::Absent {
        crate::say!("out.envelope.unbound");
    }
    Ok(())
}

/// How the file's length compares with what its outer DER header declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LengthCheck {
    /// The file is exactly as long as declared.
    Complete,
    /// Indefinite-length encoding (openssl -stream): nothing declared to compare with.
    Undeclared,
}

/// Compares the file size with the length its outer SEQUENCE declares: a truncated file (or
/// one with bytes appended) is refused here, before anything is printed as checked.
fn check_length(file: &Path) -> Result<LengthCheck, EnvelopeError> {
    use std::io::Read;
    let io = |e| EnvelopeError::Io {
        path: file.to_path_buf(),
        source: e,
    };
    let mut f = std::fs::File::open(file).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    let mut head = [0u8; 10];
    let got = f.read(&mut head).map_err(io)?;
    if got < 2 || head[0] != 0x30 {
        return Err(EnvelopeError::Malformed {
            offset: 0,
            what: "文件开头不是 CMS ContentInfo（DER SEQUENCE）".into(),
        });
    }
    let (len, header_len) = match head[1] {
        0x80 => return Ok(LengthCheck::Undeclared),
        n if n < 0x80 => (u64::from(n), 2u64),
        n => {
            let count = usize::from(n & 0x7f);
            if count > 8 || got < 2 + count {
                return Err(EnvelopeError::Malformed {
                    offset: 1,
                    what: "文件头长度字段无效".into(),
                });
            }
            let len = head[2..2 + count]
                .iter()
                .fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            (len, 2 + count as u64)
        }
    };
    let declared = len.saturating_add(header_len);
    if size < declared {
        return Err(EnvelopeError::Truncated { offset: size });
    }
    if size > declared {
        return Err(EnvelopeError::Malformed {
            offset: declared,
            what: format!(
                "文件头声明 {declared} 字节之后还有 {} 字节多余数据",
                size - declared
            ),
        });
    }
    Ok(LengthCheck::Complete)
}

fn inspect(file: &Path, json: bool) -> Result<(), EnvelopeError> {
    let length = check_length(file)?;
    let header = inspect_file(file)?;
    let binding = match header.binding {
        RecipientBinding::Verified => "verified",
        RecipientBinding::Absent => "absent",
    };
    if json {
        let recipients: Vec<serde_json::Value> = header
            .recipients
            .entries
            .iter()
            .map(|e| {
                serde_json::json!({
                    "issuer": e.id().issuer.to_string(),
                    "serial": e.serial_hex(),
                })
            })
            .collect();
        let value = serde_json::json!({
            "file": file.display().to_string(),
            "content_encryption": "AES-256-GCM",
            "ciphertext_len": header.content_len,
            "length": match length {
                LengthCheck::Complete => "complete",
                LengthCheck::Undeclared => "undeclared",
            },
            "recipient_binding": binding,
            "content_integrity": "not_checked",
            "recipients": recipients,
            "other_recipients": header.recipients.other,
        });
        crate::outln!("{value:#}");
        return Ok(());
    }
    crate::say!("out.inspect.file", file = file.display());
    crate::say!("out.inspect.cipher");
    match header.content_len {
        Some(len) => crate::say!("out.inspect.ciphertext_len", len = len),
        None => crate::say!("out.inspect.ciphertext_streamed"),
    }
    match length {
        LengthCheck::Complete => crate::say!("out.inspect.length_complete"),
        LengthCheck::Undeclared => crate::say!("out.inspect.length_undeclared"),
    }
    match header.binding {
        RecipientBinding::Verified => crate::say!("out.inspect.binding_verified"),
        RecipientBinding::Absent => crate::say!("out.inspect.binding_absent"),
    }
    crate::say!("out.inspect.integrity");
    crate::say!(
        "out.inspect.recipients",
        count = header.recipients.entries.len()
    );
    for entry in &header.recipients.entries {
        crate::say!(
            "out.inspect.recipient",
            issuer = entry.id().issuer,
            serial = entry.serial_hex()
        );
    }
    if header.recipients.other > 0 {
        crate::say!("out.inspect.other", count = header.recipients.other);
    }
    Ok(())
}
