//! Benchmark helper for `bench/seal.sh`: seals one document N times in a row on one working
//! copy and prints, per seal, the time spent in prepare + finalize (the signer excluded) and
//! the bytes added. Usage:
//! `seal_series IN OUT N KEY.pem CERT.pem SEAL.png`

use bidseal_cms::signed_data::{
    AttributeProfile, LocalKeySigner, SignRequest, SignedAttributes, Signer,
};
use bidseal_pdf::{PageRect, SealKind, SealRequest, WidgetLayout, WorkingCopy};
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, n, key, cert, image] = args.as_slice() else {
        return Err("usage: seal_series IN OUT N KEY.pem CERT.pem SEAL.png".into());
    };
    let n: usize = n.parse()?;
    let signer = LocalKeySigner::from_files(&PathBuf::from(key), &PathBuf::from(cert), &[])?;
    let image_png = std::fs::read(image)?;
    let rt = tokio::runtime::Builder::new_current_thread().build()?;
    let t0 = Instant::now();
    let mut work = WorkingCopy::create(input.as_ref(), output.as_ref())?;
    println!("create_working_copy_s {:.4}", t0.elapsed().as_secs_f64());
    let chain = signer.certificate_chain().to_vec();
    let capacity =
        chain.iter().map(|c| c.der().len()).sum::<usize>() + bidseal_pdf::seal::CONTENTS_SLACK;
    for k in 1..=n {
        let req = SealRequest {
            kind: SealKind::Enterprise,
            image_png: image_png.clone(),
            layout: WidgetLayout::SameRect {
                pages: vec![1],
                rect: PageRect {
                    x: 20.0 + 5.0 * k as f64,
                    y: 20.0,
                    w: 100.0,
                    h: 100.0,
                },
            },
            signer_name: "bench".into(),
            time: SystemTime::now(),
            contents_capacity: capacity,
        };
        let t = Instant::now();
        let pending = work.prepare(&req)?;
        let prepare = t.elapsed();
        // The signer (phone) is outside the measured time.
        let attrs = SignedAttributes::new(pending.digest, chain.clone(), AttributeProfile::Pades)?;
        let request = SignRequest {
            to_be_signed: attrs.to_be_signed()?,
            content_digest: pending.digest,
            description: String::new(),
        };
        let signature = rt.block_on(signer.sign(&request))?;
        let cms = attrs.assemble(&signature)?;
        let t = Instant::now();
        work.finalize(&pending, &cms)?;
        let finalize = t.elapsed();
        let total: Duration = prepare + finalize;
        println!(
            "seal {k} ms {:.2} bytes {}",
            total.as_secs_f64() * 1000.0,
            pending.update_len
        );
    }
    let t = Instant::now();
    work.commit(output.as_ref())?;
    println!("commit_s {:.4}", t.elapsed().as_secs_f64());
    Ok(())
}
