//! Fuzz target: the scan channel's frame decoder. The first byte picks the path:
//! - even: the desktop opens the input as the phone's hello frame (`accept_hello`);
//! - odd: a real desktop–phone session is set up, the desktop opens the input as the next data
//!   frame (`open_frame`), and the input is also parsed as a decrypted message body
//!   (`PhoneMessage`/`DesktopMessage` JSON), the code an authentic frame would reach.
#![no_main]

use bidseal_scan::{
    DesktopMessage, DesktopOffer, OperationKind, PhoneHello, PhoneMessage, PhoneSession,
};
use libfuzzer_sys::fuzz_target;
use std::time::Duration;

const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, frame)) = data.split_first() else {
        return;
    };
    let Ok(offer) = DesktopOffer::new(
        "https://relay.example.cn",
        OperationKind::Sign,
        Duration::from_secs(60),
        NOW,
    ) else {
        return;
    };
    if mode % 2 == 0 {
        let _ = offer.accept_hello(frame, NOW);
        return;
    }
    let hello = PhoneHello {
        device: "fuzz".into(),
        app: "fuzz".into(),
    };
    let Ok((_phone, hello_frame)) = PhoneSession::join(offer.payload(), &hello, NOW) else {
        return;
    };
    let Ok((mut desktop, _)) = offer.accept_hello(&hello_frame, NOW) else {
        return;
    };
    let _ = desktop.open_frame(frame);
    let _ = serde_json::from_slice::<PhoneMessage>(frame);
    let _ = serde_json::from_slice::<DesktopMessage>(frame);
});
