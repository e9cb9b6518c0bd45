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
    /// 列出加密文件的接收者 / list an envelope's recipients
    Inspect {
        /// 加密文件 / envelope
        file: PathBuf,
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
        EnvelopeCommand::Inspect { file } => inspect(&file),
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
fn progress_printer(verb: &'static str) -> impl FnMut(u64, u64) + Send {
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
                "\r{verb} {percent:>3}%（{} / {} MB）",
                done >> 20,
                total >> 20
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
    let mut progress = progress_printer("加密中");
    let summary = encrypt_file(input, output, &recipients, &mut progress)?;
    println!(
        "已加密：{} → {}（{} 字节，{} 个接收者）",
        input.display(),
        output.display(),
        summary.envelope_len,
        summary.recipients
    );
    for recipient in recipients.recipients() {
        let c = recipient.certificate();
        println!(
            "  接收者：{}（序列号 {}）",
            c.subject_string(),
            c.serial_hex()
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
    let mut progress = progress_printer("解密中");
    let summary = runtime.block_on(decrypt_file(input, output, &agreement, &mut progress))?;
    println!(
        "已解密并通过完整性校验：{} → {}（{} 字节）",
        input.display(),
        output.display(),
        summary.plaintext_len
    );
    println!("  使用的接收者：{}", summary.opened_as);
    if summary.binding == RecipientBinding::Absent {
        println!("  注意：该文件不是 BidSeal 生成的，接收者列表未受完整性保护");
    }
    Ok(())
}

fn inspect(file: &Path) -> Result<(), EnvelopeError> {
    let header = inspect_file(file)?;
    println!("加密投标文件：{}", file.display());
    println!("  内容加密：AES-256-GCM");
    match header.content_len {
        Some(len) => println!("  密文长度：{len} 字节"),
        None => println!("  密文长度：分段编码（openssl -stream），未预先声明"),
    }
    println!(
        "  接收者列表保护：{}",
        match header.binding {
            RecipientBinding::Verified => "已校验（BidSeal 生成）",
            RecipientBinding::Absent => "无（其他工具生成）",
        }
    );
    println!("  接收者（{} 个）：", header.recipients.entries.len());
    for entry in &header.recipients.entries {
        println!("    {}", entry.describe());
    }
    if header.recipients.other > 0 {
        println!(
            "  另有 {} 个本工具不支持的接收者类型",
            header.recipients.other
        );
    }
    Ok(())
}
