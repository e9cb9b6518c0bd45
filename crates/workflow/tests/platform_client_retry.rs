//! The platform client's retries: idempotent calls ride out 503s and a platform that is not
//! listening yet, with back-off; a non-idempotent call is sent once; an unreachable platform
//! ends in `E_PLATFORM_OFFLINE`; the platform's own refusals keep their code.

use bidseal_workflow::platform_client::{PlatformClient, PlatformClientError, Retry};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A platform stand-in answering the `n`-th request with `answers[n]` (the last repeats);
/// returns its URL and the request counter.
async fn fake_platform(answers: Vec<(u16, &'static str)>) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, Ordering::SeqCst);
            let (status, body) = answers[n.min(answers.len() - 1)];
            let mut buf = vec![0u8; 8192];
            let _ = sock.read(&mut buf).await;
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
        }
    });
    (url, count)
}

fn quick(url: &str) -> PlatformClient {
    PlatformClient::new(url)
        .expect("client")
        .with_backoff(vec![Duration::from_millis(20); 4])
}

#[tokio::test]
async fn an_idempotent_call_rides_out_two_503s() {
    let (url, count) = fake_platform(vec![(503, ""), (503, ""), (200, "[]")]).await;
    let got: Vec<serde_json::Value> = quick(&url).get_json("/tenders").await.expect("third try");
    assert!(got.is_empty());
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_call_that_is_not_idempotent_is_sent_once() {
    let (url, count) = fake_platform(vec![(503, ""), (200, "{}")]).await;
    let err = quick(&url)
        .post_json::<_, serde_json::Value>(
            "/tenders/T1/uploads",
            &serde_json::json!({}),
            Retry::Once,
        )
        .await
        .expect_err("503 once is the answer");
    assert_eq!(err.code(), "E_PLATFORM_OFFLINE", "{err}");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_platform_that_is_down_is_offline_after_the_retries_in_zh_cn() {
    // A port nobody listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let started = std::time::Instant::now();
    let err = quick(&url)
        .get_json::<serde_json::Value>("/tenders")
        .await
        .expect_err("nobody listens");
    assert_eq!(err.code(), "E_PLATFORM_OFFLINE");
    assert!(err.to_string().contains("无法连接交易平台"), "{err}");
    assert!(
        started.elapsed() >= Duration::from_millis(80),
        "four back-offs were waited"
    );
}

#[tokio::test]
async fn the_platforms_refusals_keep_their_meaning() {
    let (url, count) = fake_platform(vec![(
        403,
        r#"{"code":"E_DEADLINE_PASSED","message":"投标截止时间已过"}"#,
    )])
    .await;
    let err = quick(&url)
        .get_json::<serde_json::Value>("/tenders/T1/bid")
        .await
        .expect_err("refused");
    assert!(
        matches!(err, PlatformClientError::DeadlinePassed(_)),
        "{err:?}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1, "a refusal is not retried");
    let (url, _) =
        fake_platform(vec![(401, r#"{"code":"E_SESSION_EXPIRED","message":"x"}"#)]).await;
    let err = quick(&url)
        .get_json::<serde_json::Value>("/me")
        .await
        .expect_err("401");
    assert_eq!(err.code(), "E_SESSION_EXPIRED");
    let (url, _) = fake_platform(vec![(
        409,
        r#"{"code":"E_UPLOAD_OFFSET","message":"从 5 续传"}"#,
    )])
    .await;
    let err = quick(&url)
        .get_json::<serde_json::Value>("/uploads/U")
        .await
        .expect_err("409");
    assert_eq!(err.platform_code(), Some("E_UPLOAD_OFFSET"));
}
