//! Key splitting (密钥拆分): a certificate's P-256 private key as two shares, one on the phone
//! and one in the co-signing service, made and used by the 2-of-2 DKLs23 threshold-ECDSA
//! protocol of the `dkls23-secp256r1` crate (see `docs/key-split.md` for the choice, the audit
//! status and the security assumptions).
//!
//! What this module does:
//! - **Key generation** ([`PhoneDkg`] ↔ [`ServiceDkg`]): the library's DKG (Feldman-style
//!   polynomial fragments, Fischlin DLog proofs against rogue shares, base OT for the
//!   multiplication). Two messages: phone → service [`DkgHello`], service → phone
//!   [`DkgReply`], phone → service [`DkgFinish`]. Both end with a [`KeyShare`] and the same
//!   joint public key; neither ever holds the whole key.
//! - **Signing** ([`PhoneSign`] ↔ [`ServiceSign`]): the library's 4-phase signing; a standard
//!   ECDSA P-256 signature (low-s) over a SHA-256 digest, checked against the joint key with
//!   the workspace's own `p256` before it is returned.
//! - **ECDH** ([`ecdh_part`], [`combine_ecdh`]): the shares as additive shares
//!   `d = λ₁·x₁ + λ₂·x₂` (Lagrange coefficients at 0 for the indices 1 = phone, 2 = service,
//!   i.e. `d = 2·x₁ − x₂`); each side returns `dᵢ·P`, the phone adds them last.
//!
//! Guarantees: every message is checked for its sender / receiver index and count before the
//! library sees it (the library panics on inconsistent maps), so hostile input is a typed
//! [`KeySplitError`], never a panic. Every session is bound to a caller-given context id (the
//! DKG session id / sign id), so messages of one session do not fit another. Shares are
//! zeroized when dropped (the library's `Party` zeroizes itself).
//!
//! Does not: transport, authenticate or log anything (the co-signing service does, see
//! `cosign`), nor keep shares at rest (callers seal them).

use dkls23_secp256r1::protocols::dkg::{
    BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, ProofCommitment,
    TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
};
use dkls23_secp256r1::protocols::dkg_session::DkgSession;
use dkls23_secp256r1::protocols::signing::{
    Broadcast3to4, KeepPhase1to2, KeepPhase2to3, SignData, TransmitPhase1to2, TransmitPhase2to3,
    UniqueKeep1to2, UniqueKeep2to3,
};
use dkls23_secp256r1::protocols::{Abort, Parameters, PartiesMessage, PartyIndex};
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::elliptic_curve::PrimeField as _;
use p256v14::elliptic_curve::group::GroupEncoding;
use p256v14::elliptic_curve::PrimeField;
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// The library's curve type.
type Curve = p256v14::NistP256;
type Party = dkls23_secp256r1::Party;
type LibScalar = p256v14::Scalar;

/// Largest encoded protocol message accepted (a signing round is ~100 KB in postcard).
pub const MAX_MESSAGE: usize = 1024 * 1024;

/// Which side a share belongs to. The index is the protocol's party index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Side {
    /// The phone (party 1).
    Phone,
    /// The co-signing service (party 2).
    Service,
}

impl Side {
    fn index(self) -> PartyIndex {
        // 1 and 2 are never zero.
        match self {
            Side::Phone => PartyIndex::new(1).unwrap_or_else(|_| unreachable!()),
            Side::Service => PartyIndex::new(2).unwrap_or_else(|_| unreachable!()),
        }
    }

    fn other(self) -> Side {
        match self {
            Side::Phone => Side::Service,
            Side::Service => Side::Phone,
        }
    }
}

/// Errors of the split-key protocols.
#[derive(Debug, thiserror::Error)]
pub enum KeySplitError {
    /// A protocol message is not decodable or too large.
    #[error("密钥拆分协议消息格式错误（{0}），请重新扫码发起本次操作")]
    Message(String),
    /// A message is addressed from/to the wrong party or has the wrong count.
    #[error("密钥拆分协议消息的发送方或接收方不符，本次操作已中止，请重新扫码")]
    Routing,
    /// The library aborted (bad proof, inconsistent transcript, wrong signature …).
    #[error("密钥拆分协议校验失败（{0}），对方的消息可能被篡改，本次操作已中止，请重新扫码")]
    Abort(String),
    /// The two sides ended with different public keys, or the signature does not verify.
    #[error("联合结果与证书公钥不符，本次操作已中止，请联系管理员")]
    Mismatch,
    /// A share of the wrong side was used.
    #[error("密钥分量不属于本方（手机/协同签名服务），请重新初始化证书")]
    WrongSide,
    /// A point given for ECDH is not a valid P-256 public point.
    #[error("解密所需的发起方公钥无效，请核对投标文件")]
    BadPoint,
}

impl KeySplitError {
    /// Stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            KeySplitError::Message(_) => "KEYSPLIT_MESSAGE",
            KeySplitError::Routing => "KEYSPLIT_ROUTING",
            KeySplitError::Abort(_) => "KEYSPLIT_ABORT",
            KeySplitError::Mismatch => "KEYSPLIT_MISMATCH",
            KeySplitError::WrongSide => "KEYSPLIT_WRONG_SIDE",
            KeySplitError::BadPoint => "KEYSPLIT_BAD_POINT",
        }
    }
}

fn abort(a: Abort) -> KeySplitError {
    KeySplitError::Abort(a.description())
}

/// Encodes a protocol message (postcard).
fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, KeySplitError> {
    postcard::to_allocvec(value).map_err(|e| KeySplitError::Message(e.to_string()))
}

/// Decodes a protocol message; trailing bytes and oversize input are refused.
fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, KeySplitError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(KeySplitError::Message(format!(
            "{} 字节，超过上限",
            bytes.len()
        )));
    }
    let (value, rest) =
        postcard::take_from_bytes(bytes).map_err(|e| KeySplitError::Message(e.to_string()))?;
    if !rest.is_empty() {
        return Err(KeySplitError::Message("消息末尾有多余字节".into()));
    }
    Ok(value)
}

/// Checks that `messages` is exactly one message from `from` to `to`.
fn routed(parties: &[&PartiesMessage], from: Side, to: Side) -> Result<(), KeySplitError> {
    match parties {
        [p] if p.sender == from.index() && p.receiver == to.index() => Ok(()),
        _ => Err(KeySplitError::Routing),
    }
}

/// One side's share of a split certificate key. Zeroized when dropped.
pub struct KeyShare {
    side: Side,
    party: Party,
}

impl std::fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyShare")
            .field("side", &self.side)
            .finish_non_exhaustive()
    }
}

impl KeyShare {
    /// Whose share.
    pub fn side(&self) -> Side {
        self.side
    }

    /// The joint public key.
    pub fn public_key(&self) -> Result<p256::PublicKey, KeySplitError> {
        lib_point_to_public(&self.party.pk)
    }

    /// Serialised share for sealing at rest (secret: the caller must seal and zeroize it).
    pub fn to_secret_bytes(&self) -> Result<Zeroizing<Vec<u8>>, KeySplitError> {
        Ok(Zeroizing::new(encode(&(self.side, &self.party))?))
    }

    /// Reads a share written by [`KeyShare::to_secret_bytes`], refusing one of the wrong side
    /// or one whose index does not match its side.
    pub fn from_secret_bytes(bytes: &[u8], side: Side) -> Result<Self, KeySplitError> {
        let (stored, party): (Side, Party) = decode(bytes)?;
        if stored != side || party.party_index != side.index() {
            return Err(KeySplitError::WrongSide);
        }
        let p = party.parameters.clone();
        if p.threshold != 2 || p.share_count != 2 {
            return Err(KeySplitError::Message("不是 2-of-2 密钥分量".into()));
        }
        Ok(Self { side, party })
    }

    /// This share as an additive share `dᵢ = λᵢ·xᵢ` in the workspace's `p256` (secret).
    fn additive(&self) -> Result<Zeroizing<p256::Scalar>, KeySplitError> {
        let repr = Zeroizing::new(self.party.poly_point.to_repr());
        let x = Option::<p256::Scalar>::from(p256::Scalar::from_repr(
            p256::FieldBytes::clone_from_slice(repr.as_slice()),
        ))
        .ok_or_else(|| KeySplitError::Message("密钥分量不是有效标量".into()))?;
        // Lagrange coefficient at 0 over {1, 2}: λ₁ = 2/(2−1) = 2, λ₂ = 1/(1−2) = −1.
        let lambda = match self.side {
            Side::Phone => p256::Scalar::from(2u64),
            Side::Service => -p256::Scalar::ONE,
        };
        Ok(Zeroizing::new(x * lambda))
    }
}

fn lib_point_to_public(
    point: &<Curve as p256v14::elliptic_curve::CurveArithmetic>::AffinePoint,
) -> Result<p256::PublicKey, KeySplitError> {
    let bytes = point.to_bytes();
    p256::PublicKey::from_sec1_bytes(bytes.as_slice()).map_err(|_| KeySplitError::Mismatch)
}

fn parameters() -> Parameters {
    // 2-of-2 is a valid parameter set.
    Parameters::new(2, 2).unwrap_or_else(|_| unreachable!())
}

// ---------------------------------------------------------------- DKG

/// Phone → service, DKG message 1: the phone's polynomial fragment for the service.
#[derive(Serialize, Deserialize)]
struct DkgHelloMsg {
    fragment: LibScalar,
}

/// Service → phone: the service's fragment for the phone and its phase-2/3 messages.
#[derive(Serialize, Deserialize)]
struct DkgReplyMsg {
    fragment: LibScalar,
    round: DkgRoundMsgs,
}

/// Phase-2/3 output of one side (what the other side needs for phase 4).
#[derive(Serialize, Deserialize)]
struct DkgRoundMsgs {
    proof: ProofCommitment<Curve>,
    zero2: Vec<TransmitInitZeroSharePhase2to4>,
    bip2: BroadcastDerivationPhase2to4,
    zero3: Vec<TransmitInitZeroSharePhase3to4>,
    mul3: Vec<TransmitInitMulPhase3to4<Curve>>,
    bip3: BroadcastDerivationPhase3to4,
}

/// Phone → service, DKG message 3: the phone's phase-2/3 messages and the key it got.
#[derive(Serialize, Deserialize)]
struct DkgFinishMsg {
    round: DkgRoundMsgs,
    public_key: Vec<u8>,
}

fn run_phase23(
    session: &mut DkgSession<Curve>,
    fragments: &[LibScalar],
) -> Result<DkgRoundMsgs, KeySplitError> {
    let (proof, zero2, bip2) = session.phase2(fragments).map_err(abort)?;
    let (zero3, mul3, bip3) = session.phase3().map_err(abort)?;
    Ok(DkgRoundMsgs {
        proof,
        zero2,
        bip2,
        zero3,
        mul3,
        bip3,
    })
}

/// Phase 4 of `me` with its own round messages and the other side's.
fn run_phase4(
    session: DkgSession<Curve>,
    me: Side,
    mine: &DkgRoundMsgs,
    theirs: &DkgRoundMsgs,
) -> Result<Party, KeySplitError> {
    let other = me.other();
    let zero2: Vec<&PartiesMessage> = theirs.zero2.iter().map(|m| &m.parties).collect();
    routed(&zero2, other, me)?;
    let zero3: Vec<&PartiesMessage> = theirs.zero3.iter().map(|m| &m.parties).collect();
    routed(&zero3, other, me)?;
    let mul3: Vec<&PartiesMessage> = theirs.mul3.iter().map(|m| &m.parties).collect();
    routed(&mul3, other, me)?;
    if theirs.proof.index != other.index() || mine.proof.index != me.index() {
        return Err(KeySplitError::Routing);
    }
    let mut proofs = [mine.proof.clone(), theirs.proof.clone()];
    proofs.sort_by_key(|p| p.index);
    let bip2: BTreeMap<_, _> = [
        (me.index(), mine.bip2.clone()),
        (other.index(), theirs.bip2.clone()),
    ]
    .into();
    let bip3: BTreeMap<_, _> = [
        (me.index(), mine.bip3.clone()),
        (other.index(), theirs.bip3.clone()),
    ]
    .into();
    let (party, _package) = session
        .phase4(
            &proofs,
            &theirs.zero2,
            &theirs.zero3,
            &theirs.mul3,
            &bip2,
            &bip3,
            |_| String::new(),
        )
        .map_err(abort)?;
    Ok(party)
}

/// The phone's side of a DKG in progress.
pub struct PhoneDkg {
    session: DkgSession<Curve>,
    own_fragment: Zeroizing<[u8; 32]>,
}

impl PhoneDkg {
    /// Starts a DKG bound to `session_id` (both sides must use the same; the service derives
    /// it from the certificate, device and a fresh nonce). Returns the message for the service.
    pub fn start(session_id: &[u8]) -> Result<(Self, Vec<u8>), KeySplitError> {
        let session = DkgSession::new(parameters(), Side::Phone.index(), session_id.to_vec());
        let fragments = Zeroizing::new(session.phase1());
        let [mine, for_service] = fragments.as_slice() else {
            return Err(KeySplitError::Routing);
        };
        let hello = encode(&DkgHelloMsg {
            fragment: *for_service,
        })?;
        let own_fragment = Zeroizing::new(mine.to_repr().into());
        Ok((
            Self {
                session,
                own_fragment,
            },
            hello,
        ))
    }

    /// Takes the service's reply; returns the phone's share and the last message for the
    /// service (which then finishes on its side).
    pub fn finish(mut self, reply: &[u8]) -> Result<(KeyShare, Vec<u8>), KeySplitError> {
        let reply: DkgReplyMsg = decode(reply)?;
        let mine = lib_scalar(&self.own_fragment)?;
        let round = run_phase23(&mut self.session, &[*mine, reply.fragment])?;
        let party = run_phase4(self.session, Side::Phone, &round, &reply.round)?;
        let share = KeyShare {
            side: Side::Phone,
            party,
        };
        let public_key = share
            .public_key()?
            .to_encoded_point(false)
            .as_bytes()
            .to_vec();
        let finish = encode(&DkgFinishMsg { round, public_key })?;
        Ok((share, finish))
    }
}

fn lib_scalar(bytes: &[u8; 32]) -> Result<Zeroizing<LibScalar>, KeySplitError> {
    let repr = p256v14::FieldBytes::from(*bytes);
    Option::<LibScalar>::from(LibScalar::from_repr(repr))
        .map(Zeroizing::new)
        .ok_or_else(|| KeySplitError::Message("标量超出范围".into()))
}

/// The service's side of a DKG in progress (kept in memory between the two calls).
pub struct ServiceDkg {
    session: DkgSession<Curve>,
    round: DkgRoundMsgs,
}

impl ServiceDkg {
    /// Answers the phone's first message.
    pub fn answer(session_id: &[u8], hello: &[u8]) -> Result<(Self, Vec<u8>), KeySplitError> {
        let hello: DkgHelloMsg = decode(hello)?;
        let mut session = DkgSession::new(parameters(), Side::Service.index(), session_id.to_vec());
        let fragments = Zeroizing::new(session.phase1());
        let [for_phone, mine] = fragments.as_slice() else {
            return Err(KeySplitError::Routing);
        };
        let round = run_phase23(&mut session, &[hello.fragment, *mine])?;
        let reply = encode(&DkgReplyMsg {
            fragment: *for_phone,
            round: DkgRoundMsgs {
                proof: round.proof.clone(),
                zero2: round.zero2.clone(),
                bip2: round.bip2.clone(),
                zero3: round.zero3.clone(),
                mul3: round.mul3.clone(),
                bip3: round.bip3.clone(),
            },
        })?;
        Ok((Self { session, round }, reply))
    }

    /// Takes the phone's last message; returns the service's share. Refuses when the phone
    /// claims another public key than the service computed.
    pub fn finish(self, finish: &[u8]) -> Result<KeyShare, KeySplitError> {
        let finish: DkgFinishMsg = decode(finish)?;
        let party = run_phase4(self.session, Side::Service, &self.round, &finish.round)?;
        let share = KeyShare {
            side: Side::Service,
            party,
        };
        if share.public_key()?.to_encoded_point(false).as_bytes() != finish.public_key.as_slice() {
            return Err(KeySplitError::Mismatch);
        }
        Ok(share)
    }
}

// ---------------------------------------------------------------- signing

#[derive(Serialize, Deserialize)]
struct SignHelloMsg {
    first: Vec<TransmitPhase1to2>,
}

#[derive(Serialize, Deserialize)]
struct SignReplyMsg {
    first: Vec<TransmitPhase1to2>,
    second: Vec<TransmitPhase2to3<Curve>>,
}

#[derive(Serialize, Deserialize)]
struct SignFinishMsg {
    second: Vec<TransmitPhase2to3<Curve>>,
    broadcast: Broadcast3to4<Curve>,
}

#[derive(Serialize, Deserialize)]
struct SignDoneMsg {
    broadcast: Broadcast3to4<Curve>,
}

fn sign_data(side: Side, sign_id: &[u8], digest: &[u8; 32]) -> SignData {
    SignData {
        sign_id: sign_id.to_vec(),
        counterparties: vec![side.other().index()],
        message_hash: *digest,
    }
}

/// Assembles and checks the signature (library check, then the workspace's `p256`).
fn assemble(
    share: &KeyShare,
    data: &SignData,
    x_coord: &str,
    broadcasts: [Broadcast3to4<Curve>; 2],
) -> Result<p256::ecdsa::Signature, KeySplitError> {
    let (s_hex, _recovery) = share
        .party
        .sign_phase4(data, x_coord, &broadcasts, true)
        .map_err(abort)?;
    let mut rs = [0u8; 64];
    hex::decode_to_slice(x_coord, &mut rs[..32]).map_err(|_| KeySplitError::Mismatch)?;
    hex::decode_to_slice(&s_hex, &mut rs[32..]).map_err(|_| KeySplitError::Mismatch)?;
    let signature = p256::ecdsa::Signature::from_slice(&rs).map_err(|_| KeySplitError::Mismatch)?;
    use p256::ecdsa::signature::hazmat::PrehashVerifier;
    p256::ecdsa::VerifyingKey::from(share.public_key()?)
        .verify_prehash(&data.message_hash, &signature)
        .map_err(|_| KeySplitError::Mismatch)?;
    Ok(signature)
}

/// What the phone keeps between its first and second signing message.
type PhoneKept = (
    UniqueKeep1to2<Curve>,
    BTreeMap<PartyIndex, KeepPhase1to2<Curve>>,
);
/// What the service keeps between its two signing calls.
type ServiceKept = (
    UniqueKeep2to3<Curve>,
    BTreeMap<PartyIndex, KeepPhase2to3<Curve>>,
);

/// The phone's side of one joint signature.
pub struct PhoneSign<'a> {
    share: &'a KeyShare,
    data: SignData,
    kept: Option<PhoneKept>,
    x_coord: String,
    broadcast: Option<Broadcast3to4<Curve>>,
}

impl<'a> PhoneSign<'a> {
    /// Starts signing the SHA-256 `digest` under `sign_id` (the service derives the same id
    /// from the operation it authorised). Returns the first message for the service.
    pub fn start(
        share: &'a KeyShare,
        sign_id: &[u8],
        digest: &[u8; 32],
    ) -> Result<(Self, Vec<u8>), KeySplitError> {
        if share.side != Side::Phone {
            return Err(KeySplitError::WrongSide);
        }
        let data = sign_data(Side::Phone, sign_id, digest);
        let (unique, kept, first) = share.party.sign_phase1(&data).map_err(abort)?;
        let hello = encode(&SignHelloMsg { first })?;
        Ok((
            Self {
                share,
                data,
                kept: Some((unique, kept)),
                x_coord: String::new(),
                broadcast: None,
            },
            hello,
        ))
    }

    /// Takes the service's reply; returns the second message for the service.
    pub fn step(&mut self, reply: &[u8]) -> Result<Vec<u8>, KeySplitError> {
        let reply: SignReplyMsg = decode(reply)?;
        let first: Vec<&PartiesMessage> = reply.first.iter().map(|m| &m.parties).collect();
        routed(&first, Side::Service, Side::Phone)?;
        let second: Vec<&PartiesMessage> = reply.second.iter().map(|m| &m.parties).collect();
        routed(&second, Side::Service, Side::Phone)?;
        let (unique, kept) = self.kept.take().ok_or(KeySplitError::Routing)?;
        let (unique, kept, mine_second) = self
            .share
            .party
            .sign_phase2(&self.data, unique, kept, &reply.first)
            .map_err(abort)?;
        let (x_coord, broadcast) = self
            .share
            .party
            .sign_phase3(&self.data, unique, kept, &reply.second)
            .map_err(abort)?;
        self.x_coord = x_coord;
        self.broadcast = Some(broadcast.clone());
        encode(&SignFinishMsg {
            second: mine_second,
            broadcast,
        })
    }

    /// Takes the service's last message; returns the checked signature.
    pub fn finish(mut self, done: &[u8]) -> Result<p256::ecdsa::Signature, KeySplitError> {
        let done: SignDoneMsg = decode(done)?;
        let mine = self.broadcast.take().ok_or(KeySplitError::Routing)?;
        assemble(
            self.share,
            &self.data,
            &self.x_coord,
            [mine, done.broadcast],
        )
    }
}

/// The service's side of one joint signature (kept in memory between the two calls).
pub struct ServiceSign {
    data: SignData,
    kept: Option<ServiceKept>,
}

impl ServiceSign {
    /// Answers the phone's first message for `digest` under `sign_id`.
    pub fn answer(
        share: &KeyShare,
        sign_id: &[u8],
        digest: &[u8; 32],
        hello: &[u8],
    ) -> Result<(Self, Vec<u8>), KeySplitError> {
        if share.side != Side::Service {
            return Err(KeySplitError::WrongSide);
        }
        let hello: SignHelloMsg = decode(hello)?;
        let first: Vec<&PartiesMessage> = hello.first.iter().map(|m| &m.parties).collect();
        routed(&first, Side::Phone, Side::Service)?;
        let data = sign_data(Side::Service, sign_id, digest);
        let (unique, kept, mine_first) = share.party.sign_phase1(&data).map_err(abort)?;
        let (unique, kept, mine_second) = share
            .party
            .sign_phase2(&data, unique, kept, &hello.first)
            .map_err(abort)?;
        let reply = encode(&SignReplyMsg {
            first: mine_first,
            second: mine_second,
        })?;
        Ok((
            Self {
                data,
                kept: Some((unique, kept)),
            },
            reply,
        ))
    }

    /// Takes the phone's second message; returns the service's last message and the joint
    /// signature (the service checks it too, so it logs only signatures that verify).
    pub fn finish(
        mut self,
        share: &KeyShare,
        finish: &[u8],
    ) -> Result<(Vec<u8>, p256::ecdsa::Signature), KeySplitError> {
        let finish: SignFinishMsg = decode(finish)?;
        let second: Vec<&PartiesMessage> = finish.second.iter().map(|m| &m.parties).collect();
        routed(&second, Side::Phone, Side::Service)?;
        let (unique, kept) = self.kept.take().ok_or(KeySplitError::Routing)?;
        let (x_coord, broadcast) = share
            .party
            .sign_phase3(&self.data, unique, kept, &finish.second)
            .map_err(abort)?;
        let signature = assemble(
            share,
            &self.data,
            &x_coord,
            [finish.broadcast, broadcast.clone()],
        )?;
        Ok((encode(&SignDoneMsg { broadcast })?, signature))
    }
}

// ---------------------------------------------------------------- refresh

/// Phase-2/3 output of one side of a refresh.
#[derive(Serialize, Deserialize)]
struct RefreshRoundMsgs {
    proof: ProofCommitment<Curve>,
    zero2: Vec<TransmitInitZeroSharePhase2to4>,
    zero3: Vec<TransmitInitZeroSharePhase3to4>,
    mul3: Vec<TransmitInitMulPhase3to4<Curve>>,
}

#[derive(Serialize, Deserialize)]
struct RefreshReplyMsg {
    fragment: LibScalar,
    round: RefreshRoundMsgs,
}

type RefreshKept = (
    BTreeMap<PartyIndex, dkls23_secp256r1::protocols::dkg::KeepInitZeroSharePhase3to4>,
    BTreeMap<PartyIndex, dkls23_secp256r1::protocols::dkg::KeepInitMulPhase3to4<Curve>>,
);

/// One side of a complete refresh in progress (the library's `refresh_complete_*`: a DKG of
/// zero whose result corrects each share; the public key stays, old shares stop fitting).
struct RefreshSide {
    share: KeyShare,
    refresh_id: Vec<u8>,
    correction: Zeroizing<[u8; 32]>,
    kept: Option<RefreshKept>,
    round: Option<RefreshRoundMsgs>,
}

impl RefreshSide {
    /// Phases 2 and 3 with both fragments of this side (own first or second by index).
    fn phase23(
        share: KeyShare,
        refresh_id: &[u8],
        fragments: [LibScalar; 2],
    ) -> Result<Self, KeySplitError> {
        let party = &share.party;
        let (correction, proof, zero_keep, zero2) =
            party.refresh_complete_phase2(refresh_id, &fragments);
        let (zero_keep3, zero3, mul_keep, mul3) =
            party.refresh_complete_phase3(refresh_id, &zero_keep);
        Ok(Self {
            correction: Zeroizing::new(correction.to_repr().into()),
            refresh_id: refresh_id.to_vec(),
            kept: Some((zero_keep3, mul_keep)),
            round: Some(RefreshRoundMsgs {
                proof,
                zero2,
                zero3,
                mul3,
            }),
            share,
        })
    }

    fn round_copy(&self) -> Result<RefreshRoundMsgs, KeySplitError> {
        let r = self.round.as_ref().ok_or(KeySplitError::Routing)?;
        Ok(RefreshRoundMsgs {
            proof: r.proof.clone(),
            zero2: r.zero2.clone(),
            zero3: r.zero3.clone(),
            mul3: r.mul3.clone(),
        })
    }

    fn phase4(mut self, theirs: &RefreshRoundMsgs) -> Result<KeyShare, KeySplitError> {
        let me = self.share.side;
        let other = me.other();
        let zero2: Vec<&PartiesMessage> = theirs.zero2.iter().map(|m| &m.parties).collect();
        routed(&zero2, other, me)?;
        let zero3: Vec<&PartiesMessage> = theirs.zero3.iter().map(|m| &m.parties).collect();
        routed(&zero3, other, me)?;
        let mul3: Vec<&PartiesMessage> = theirs.mul3.iter().map(|m| &m.parties).collect();
        routed(&mul3, other, me)?;
        let mine = self.round.take().ok_or(KeySplitError::Routing)?;
        if theirs.proof.index != other.index() || mine.proof.index != me.index() {
            return Err(KeySplitError::Routing);
        }
        let mut proofs = [mine.proof, theirs.proof.clone()];
        proofs.sort_by_key(|p| p.index);
        let (zero_keep3, mul_keep) = self.kept.take().ok_or(KeySplitError::Routing)?;
        let correction = lib_scalar(&self.correction)?;
        let before = self.share.public_key()?;
        let party = self
            .share
            .party
            .refresh_complete_phase4(
                &self.refresh_id,
                &correction,
                &proofs,
                &zero_keep3,
                &theirs.zero2,
                &theirs.zero3,
                &mul_keep,
                &theirs.mul3,
            )
            .map_err(abort)?;
        let refreshed = KeyShare { side: me, party };
        if refreshed.public_key()? != before {
            return Err(KeySplitError::Mismatch);
        }
        Ok(refreshed)
    }
}

/// The phone's side of a refresh (new phone / restore: the phone share from the backup is
/// renewed together with the service's; the public key stays).
pub struct PhoneRefresh {
    share: KeyShare,
    refresh_id: Vec<u8>,
    own_fragment: Zeroizing<[u8; 32]>,
}

impl PhoneRefresh {
    /// Starts a refresh of the phone's `share` bound to `refresh_id`; returns the message for
    /// the service.
    pub fn start(share: KeyShare, refresh_id: &[u8]) -> Result<(Self, Vec<u8>), KeySplitError> {
        if share.side != Side::Phone {
            return Err(KeySplitError::WrongSide);
        }
        let fragments = Zeroizing::new(share.party.refresh_complete_phase1());
        let [mine, for_service] = fragments.as_slice() else {
            return Err(KeySplitError::Routing);
        };
        let hello = encode(&DkgHelloMsg {
            fragment: *for_service,
        })?;
        Ok((
            Self {
                own_fragment: Zeroizing::new(mine.to_repr().into()),
                share,
                refresh_id: refresh_id.to_vec(),
            },
            hello,
        ))
    }

    /// Takes the service's reply; returns the phone's new share and the last message.
    pub fn finish(self, reply: &[u8]) -> Result<(KeyShare, Vec<u8>), KeySplitError> {
        let reply: RefreshReplyMsg = decode(reply)?;
        let mine = lib_scalar(&self.own_fragment)?;
        let side = RefreshSide::phase23(self.share, &self.refresh_id, [*mine, reply.fragment])?;
        let finish = encode(&side.round_copy()?)?;
        let share = side.phase4(&reply.round)?;
        Ok((share, finish))
    }
}

/// The service's side of a refresh (kept in memory between the two calls).
pub struct ServiceRefresh {
    side: RefreshSide,
}

impl ServiceRefresh {
    /// Answers the phone's first refresh message with the service's current `share`.
    pub fn answer(
        share: KeyShare,
        refresh_id: &[u8],
        hello: &[u8],
    ) -> Result<(Self, Vec<u8>), KeySplitError> {
        if share.side != Side::Service {
            return Err(KeySplitError::WrongSide);
        }
        let hello: DkgHelloMsg = decode(hello)?;
        let fragments = Zeroizing::new(share.party.refresh_complete_phase1());
        let [for_phone, mine] = fragments.as_slice() else {
            return Err(KeySplitError::Routing);
        };
        let for_phone = *for_phone;
        let side = RefreshSide::phase23(share, refresh_id, [hello.fragment, *mine])?;
        let reply = encode(&RefreshReplyMsg {
            fragment: for_phone,
            round: side.round_copy()?,
        })?;
        Ok((Self { side }, reply))
    }

    /// Takes the phone's last message; returns the service's new share (the caller replaces
    /// the stored one, so the old phone share stops working).
    pub fn finish(self, finish: &[u8]) -> Result<KeyShare, KeySplitError> {
        let theirs: RefreshRoundMsgs = decode(finish)?;
        self.side.phase4(&theirs)
    }
}

// ---------------------------------------------------------------- both parties in one process

/// Runs the DKG with both parties in this process. Only for `phone init`'s test world, which
/// plays phone and service at once to write both sides' state (the two shares are never
/// combined; they are dropped, zeroized, after sealing).
pub fn dkg_in_process(session_id: &[u8]) -> Result<(KeyShare, KeyShare), KeySplitError> {
    let (phone, hello) = PhoneDkg::start(session_id)?;
    let (service, reply) = ServiceDkg::answer(session_id, &hello)?;
    let (phone_share, finish) = phone.finish(&reply)?;
    let service_share = service.finish(&finish)?;
    Ok((phone_share, service_share))
}

/// One joint signature with both parties in this process (`phone init`: the jointly signed
/// certificate request).
pub fn sign_in_process(
    phone: &KeyShare,
    service: &KeyShare,
    sign_id: &[u8],
    digest: &[u8; 32],
) -> Result<p256::ecdsa::Signature, KeySplitError> {
    let (mut p, hello) = PhoneSign::start(phone, sign_id, digest)?;
    let (s, reply) = ServiceSign::answer(service, sign_id, digest, &hello)?;
    let second = p.step(&reply)?;
    let (done, _) = s.finish(service, &second)?;
    p.finish(&done)
}

/// The whole private key `d = d₁ + d₂` from both shares — only for tests that search a world
/// for any trace of it (the product never calls this).
#[doc(hidden)]
pub fn whole_key_for_leak_search(
    phone: &KeyShare,
    service: &KeyShare,
) -> Result<Zeroizing<[u8; 32]>, KeySplitError> {
    if phone.side != Side::Phone || service.side != Side::Service {
        return Err(KeySplitError::WrongSide);
    }
    let d = Zeroizing::new(*phone.additive()? + *service.additive()?);
    Ok(Zeroizing::new(d.to_repr().into()))
}

// ---------------------------------------------------------------- ECDH

/// One side's ECDH part `dᵢ·P` for the originator key `P` (SEC1 uncompressed). The service
/// returns it only after its gates; the phone adds its own last ([`combine_ecdh`]).
pub fn ecdh_part(share: &KeyShare, originator: &p256::PublicKey) -> Result<Vec<u8>, KeySplitError> {
    let d = share.additive()?;
    let part = (originator.to_projective() * *d).to_affine();
    Ok(part.to_encoded_point(false).as_bytes().to_vec())
}

/// The phone's last step: `Z = x(d₁·P + d₂·P)`, the ECDH shared secret of the whole key.
pub fn combine_ecdh(
    phone: &KeyShare,
    originator: &p256::PublicKey,
    service_part: &[u8],
) -> Result<Zeroizing<[u8; 32]>, KeySplitError> {
    if phone.side != Side::Phone {
        return Err(KeySplitError::WrongSide);
    }
    let theirs = p256::PublicKey::from_sec1_bytes(service_part)
        .map_err(|_| KeySplitError::BadPoint)?
        .to_projective();
    let d1 = phone.additive()?;
    let sum = (originator.to_projective() * *d1 + theirs).to_affine();
    let encoded = sum.to_encoded_point(false);
    let x = encoded.x().ok_or(KeySplitError::BadPoint)?;
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(x);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::ecdsa::signature::hazmat::{PrehashSigner, PrehashVerifier};
    use sha2::{Digest, Sha256};
    use std::sync::OnceLock;

    /// One DKG over encoded messages (shared by the tests: a DKG takes ~1 s).
    fn world() -> (KeyShare, KeyShare) {
        type Encoded = (Zeroizing<Vec<u8>>, Zeroizing<Vec<u8>>);
        static SHARES: OnceLock<Encoded> = OnceLock::new();
        let (p, s) = SHARES.get_or_init(|| {
            let (p, s) = dkg(b"test-dkg");
            (
                p.to_secret_bytes().expect("encode"),
                s.to_secret_bytes().expect("encode"),
            )
        });
        (
            KeyShare::from_secret_bytes(p, Side::Phone).expect("phone share"),
            KeyShare::from_secret_bytes(s, Side::Service).expect("service share"),
        )
    }

    fn dkg(session: &[u8]) -> (KeyShare, KeyShare) {
        dkg_in_process(session).expect("dkg")
    }

    /// Runs a signature, letting `tamper` change each message in flight (index 0..4).
    fn sign_with(
        phone: &KeyShare,
        service: &KeyShare,
        phone_digest: &[u8; 32],
        service_digest: &[u8; 32],
        tamper: &mut dyn FnMut(usize, &mut Vec<u8>),
    ) -> Result<p256::ecdsa::Signature, KeySplitError> {
        let (mut p, mut m) = PhoneSign::start(phone, b"sign-1", phone_digest)?;
        tamper(0, &mut m);
        let (s, mut m) = ServiceSign::answer(service, b"sign-1", service_digest, &m)?;
        tamper(1, &mut m);
        let mut m = p.step(&m)?;
        tamper(2, &mut m);
        let (mut m, service_sig) = s.finish(service, &m)?;
        tamper(3, &mut m);
        let sig = p.finish(&m)?;
        assert_eq!(sig, service_sig);
        Ok(sig)
    }

    fn digest(text: &str) -> [u8; 32] {
        Sha256::digest(text.as_bytes()).into()
    }

    #[test]
    fn dkg_gives_one_key_and_joint_signatures_verify_with_p256() {
        let (phone, service) = world();
        let pk = phone.public_key().expect("pk");
        assert_eq!(pk, service.public_key().expect("pk"));
        for text in ["标书摘要 1", "another digest"] {
            let d = digest(text);
            let sig = sign_with(&phone, &service, &d, &d, &mut |_, _| {}).expect("sign");
            p256::ecdsa::VerifyingKey::from(pk)
                .verify_prehash(&d, &sig)
                .expect("standard ECDSA verifies");
            assert!(sig.normalize_s().is_none(), "low-s");
        }
    }

    #[test]
    fn each_share_alone_is_not_the_key() {
        let (phone, service) = world();
        let pk = phone.public_key().expect("pk").to_projective();
        let d = digest("x");
        for share in [&phone, &service] {
            let alone = share.additive().expect("scalar");
            assert_ne!(p256::ProjectivePoint::GENERATOR * *alone, pk);
            // ECDSA with the share alone does not verify under the certificate key.
            let key = p256::ecdsa::SigningKey::from_bytes(&alone.to_repr()).expect("key");
            let sig: p256::ecdsa::Signature = key.sign_prehash(&d).expect("sign");
            assert!(
                p256::ecdsa::VerifyingKey::from(phone.public_key().expect("pk"))
                    .verify_prehash(&d, &sig)
                    .is_err()
            );
        }
        // The two additive shares together are the key (the ECDH construction relies on it).
        let sum = *phone.additive().expect("d1") + *service.additive().expect("d2");
        assert_eq!(p256::ProjectivePoint::GENERATOR * sum, pk);
    }

    #[test]
    fn a_share_with_a_stranger_share_cannot_sign() {
        let (phone, _service) = world();
        let (_other_phone, stranger) = dkg(b"another certificate");
        let d = digest("x");
        assert!(sign_with(&phone, &stranger, &d, &d, &mut |_, _| {}).is_err());
        // Shares of the wrong side are refused outright.
        assert!(matches!(
            PhoneSign::start(&stranger, b"s", &d),
            Err(KeySplitError::WrongSide)
        ));
        let bytes = phone.to_secret_bytes().expect("encode");
        assert!(matches!(
            KeyShare::from_secret_bytes(&bytes, Side::Service),
            Err(KeySplitError::WrongSide)
        ));
    }

    #[test]
    fn the_service_cannot_be_made_to_sign_another_digest_or_session() {
        let (phone, service) = world();
        let result = sign_with(&phone, &service, &digest("a"), &digest("b"), &mut |_, _| {});
        assert!(result.is_err(), "digests differ: no signature");
        let d = digest("a");
        let (_p, hello) = PhoneSign::start(&phone, b"session-1", &d).expect("start");
        let (mut p2, _) = PhoneSign::start(&phone, b"session-2", &d).expect("start");
        let (_s, reply) = ServiceSign::answer(&service, b"session-1", &d, &hello).expect("answer");
        assert!(
            p2.step(&reply).is_err(),
            "a reply of another session does not fit"
        );
    }

    #[test]
    fn a_tampered_transcript_never_gives_a_signature() {
        let (phone, service) = world();
        let d = digest("tamper");
        for round in 0..4 {
            for position in [0usize, 1, 7, 40, 500, 5_000, usize::MAX] {
                let result = sign_with(&phone, &service, &d, &d, &mut |r, m: &mut Vec<u8>| {
                    if r == round && !m.is_empty() {
                        let i = position.min(m.len() - 1);
                        m[i] ^= 0x01;
                    }
                });
                assert!(result.is_err(), "round {round} byte {position} flipped");
            }
            // Truncated and extended messages too.
            let cut = sign_with(&phone, &service, &d, &d, &mut |r, m: &mut Vec<u8>| {
                if r == round {
                    m.truncate(m.len() / 2);
                }
            });
            assert!(cut.is_err());
            let long = sign_with(&phone, &service, &d, &d, &mut |r, m: &mut Vec<u8>| {
                if r == round {
                    m.push(0);
                }
            });
            assert!(long.is_err());
        }
    }

    #[test]
    fn a_tampered_dkg_is_refused() {
        let session = b"dkg-tamper";
        // The phone claims another public key at the end.
        let (phone, hello) = PhoneDkg::start(session).expect("start");
        let (service, reply) = ServiceDkg::answer(session, &hello).expect("answer");
        let (_share, finish) = phone.finish(&reply).expect("finish");
        let mut msg: DkgFinishMsg = decode(&finish).expect("decode");
        msg.public_key[10] ^= 1;
        assert!(service.finish(&encode(&msg).expect("encode")).is_err());
        // A reply of a DKG with another session id.
        let (phone, hello) = PhoneDkg::start(session).expect("start");
        let (_service, reply) = ServiceDkg::answer(b"other", &hello).expect("answer");
        assert!(phone.finish(&reply).is_err());
        // Garbage never panics.
        assert!(ServiceDkg::answer(session, &[0xff; 40]).is_err());
        let (phone, _) = PhoneDkg::start(session).expect("start");
        assert!(phone.finish(&[]).is_err());
    }

    #[test]
    fn ecdh_needs_both_parts_and_the_phone_adds_last() {
        let (phone, service) = world();
        let pk = phone.public_key().expect("pk");
        let ephemeral = p256::SecretKey::random(&mut rand_core::OsRng);
        let originator = ephemeral.public_key();
        let expected = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), pk.as_affine());
        let part = ecdh_part(&service, &originator).expect("service part");
        let z = combine_ecdh(&phone, &originator, &part).expect("combine");
        assert_eq!(z.as_slice(), expected.raw_secret_bytes().as_slice());
        // The service's part alone is not the secret.
        let service_point = p256::PublicKey::from_sec1_bytes(&part).expect("point");
        assert_ne!(
            &service_point.to_encoded_point(false).x().expect("x")[..],
            expected.raw_secret_bytes().as_slice()
        );
        // The phone's part alone is not the secret either.
        let phone_part = ecdh_part(&phone, &originator).expect("phone part");
        let phone_point = p256::PublicKey::from_sec1_bytes(&phone_part).expect("point");
        assert_ne!(
            &phone_point.to_encoded_point(false).x().expect("x")[..],
            expected.raw_secret_bytes().as_slice()
        );
        // A service part from a stranger's share gives a wrong secret.
        let (_, stranger) = dkg(b"ecdh stranger");
        let wrong = ecdh_part(&stranger, &originator).expect("part");
        let z2 = combine_ecdh(&phone, &originator, &wrong).expect("combine");
        assert_ne!(z2.as_slice(), expected.raw_secret_bytes().as_slice());
        assert!(matches!(
            combine_ecdh(&phone, &originator, &[4u8; 65]),
            Err(KeySplitError::BadPoint)
        ));
        assert!(combine_ecdh(&service, &originator, &part).is_err());
    }

    #[test]
    fn a_refresh_keeps_the_key_and_old_shares_stop_working() {
        let (phone, service) = world();
        let pk = phone.public_key().expect("pk");
        let old_phone =
            KeyShare::from_secret_bytes(&phone.to_secret_bytes().expect("e"), Side::Phone)
                .expect("copy");
        let old_service =
            KeyShare::from_secret_bytes(&service.to_secret_bytes().expect("e"), Side::Service)
                .expect("copy");
        let (p, hello) = PhoneRefresh::start(phone, b"refresh-1").expect("start");
        let (s, reply) = ServiceRefresh::answer(service, b"refresh-1", &hello).expect("answer");
        let (new_phone, finish) = p.finish(&reply).expect("phone");
        let new_service = s.finish(&finish).expect("service");
        assert_eq!(new_phone.public_key().expect("pk"), pk, "public key stays");
        let d = digest("after refresh");
        let sig = sign_with(&new_phone, &new_service, &d, &d, &mut |_, _| {}).expect("sign");
        assert!(p256::ecdsa::VerifyingKey::from(pk)
            .verify_prehash(&d, &sig)
            .is_ok());
        assert!(
            sign_with(&old_phone, &new_service, &d, &d, &mut |_, _| {}).is_err(),
            "the old phone share no longer signs"
        );
        assert!(sign_with(&new_phone, &old_service, &d, &d, &mut |_, _| {}).is_err());
        // ... nor decrypts.
        let eph = p256::SecretKey::random(&mut rand_core::OsRng);
        let expected = p256::ecdh::diffie_hellman(eph.to_nonzero_scalar(), pk.as_affine());
        let part = ecdh_part(&new_service, &eph.public_key()).expect("part");
        let z = combine_ecdh(&new_phone, &eph.public_key(), &part).expect("z");
        assert_eq!(z.as_slice(), expected.raw_secret_bytes().as_slice());
        let z_old = combine_ecdh(&old_phone, &eph.public_key(), &part).expect("z");
        assert_ne!(z_old.as_slice(), expected.raw_secret_bytes().as_slice());
        // A tampered refresh is refused, never a share for another key.
        let (p, hello) = PhoneRefresh::start(new_phone, b"refresh-2").expect("start");
        let (s, reply) = ServiceRefresh::answer(new_service, b"refresh-2", &hello).expect("answer");
        let mut bad = reply.clone();
        let i = bad.len() / 3;
        bad[i] ^= 1;
        assert!(p.finish(&bad).is_err());
        let (_p2, _) = PhoneRefresh::start(old_phone, b"refresh-3").expect("start");
        assert!(s.finish(&[1, 2, 3]).is_err());
    }
}
