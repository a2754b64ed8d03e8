//! DNS messages of a resolution, over bytes: the query corelb sends and what an answer
//! means for it. Encoding and decoding are simple-dns's; what is ours is which records
//! count (HAProxy's rules: the answers of the queried type for the queried name, following
//! CNAMEs) and how an answer is classed for the `hold` timers.

use simple_dns::rdata::{OPT, RData};
use simple_dns::{CLASS, Name, Packet, PacketFlag, QCLASS, QTYPE, Question, RCODE, TYPE};
use std::net::IpAddr;

/// The record type asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Qtype {
    A,
    Aaaa,
    /// `_service._proto.name`: targets, ports and weights.
    Srv,
}

/// One SRV record of an answer, with the address the additional section gave its target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Srv {
    /// Lower case, without the final dot.
    pub target: String,
    pub port: u16,
    pub weight: u16,
    pub addr: Option<IpAddr>,
}

/// What an answer says, classed as the `hold` timers of a `resolvers` section are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Addresses of the asked type (possibly none: `NOERROR` without records).
    Valid(Vec<IpAddr>),
    /// The SRV records of an SRV query (possibly none).
    Srv(Vec<Srv>),
    /// `NXDOMAIN`: the name does not exist (`hold nx`).
    NxDomain,
    /// `REFUSED` (`hold refused`).
    Refused,
    /// A truncated A/AAAA answer (the TC bit): `hold other`. HAProxy 2.6 does not retry
    /// over TCP, nor does corelb; a truncated SRV answer is used as it is, as in HAProxy.
    Truncated,
    /// Anything else: SERVFAIL, a malformed answer (`hold other`).
    Other,
}

/// The query for `name`, with an EDNS0 record announcing `payload` bytes when it is larger
/// than the classic 512 (`accepted_payload_size`).
pub fn query(id: u16, name: &str, qtype: Qtype, payload: u16) -> Result<Vec<u8>, String> {
    let qname = Name::new(name).map_err(|e| format!("invalid name '{name}': {e}"))?;
    let mut p = Packet::new_query(id);
    p.set_flags(PacketFlag::RECURSION_DESIRED);
    let t = match qtype {
        Qtype::A => TYPE::A,
        Qtype::Aaaa => TYPE::AAAA,
        Qtype::Srv => TYPE::SRV,
    };
    p.questions.push(Question::new(
        qname,
        QTYPE::TYPE(t),
        QCLASS::CLASS(CLASS::IN),
        false,
    ));
    if payload > 512 {
        *p.opt_mut() = Some(OPT {
            opt_codes: Vec::new(),
            udp_packet_size: payload,
            version: 0,
        });
    }
    p.build_bytes_vec()
        .map_err(|e| format!("cannot encode a query for '{name}': {e}"))
}

/// Reads an answer to query `id` for `name`. `None` when the bytes are not that answer
/// (another id, another question, not a response): the caller keeps waiting.
pub fn answer(bytes: &[u8], id: u16, name: &str, qtype: Qtype) -> Option<Outcome> {
    let Ok(p) = Packet::parse(bytes) else {
        return None;
    };
    if p.id() != id || !p.has_flags(PacketFlag::RESPONSE) {
        return None;
    }
    let same = |n: &Name| eq_name(&n.to_string(), name);
    if !p.questions.iter().any(|q| same(&q.qname)) {
        return None;
    }
    if qtype != Qtype::Srv && p.has_flags(PacketFlag::TRUNCATION) {
        return Some(Outcome::Truncated);
    }
    match p.rcode() {
        RCODE::NoError => {}
        RCODE::NameError => return Some(Outcome::NxDomain),
        RCODE::Refused => return Some(Outcome::Refused),
        _ => return Some(Outcome::Other),
    }
    if qtype == Qtype::Srv {
        return Some(Outcome::Srv(srv_records(&p, name)));
    }
    // Follow CNAME chains inside the answer section (bounded: a loop ends the walk).
    let mut target = name.trim_end_matches('.').to_string();
    let mut ips = Vec::new();
    for _ in 0..8 {
        let mut next = None;
        for rr in p
            .answers
            .iter()
            .filter(|rr| eq_name(&rr.name.to_string(), &target))
        {
            match (&rr.rdata, qtype) {
                (RData::A(a), Qtype::A) => ips.push(IpAddr::from(a.address.to_be_bytes())),
                (RData::AAAA(a), Qtype::Aaaa) => ips.push(IpAddr::from(a.address.to_be_bytes())),
                (RData::CNAME(c), _) => next = Some(c.0.to_string()),
                _ => {}
            }
        }
        match next {
            Some(n) if ips.is_empty() => target = n.trim_end_matches('.').to_string(),
            _ => break,
        }
    }
    Some(Outcome::Valid(ips))
}

/// The SRV records for `name`, each with the first A or AAAA record of the additional
/// section for its target (as HAProxy links an additional record to its SRV record).
fn srv_records(p: &Packet, name: &str) -> Vec<Srv> {
    p.answers
        .iter()
        .filter(|rr| eq_name(&rr.name.to_string(), name))
        .filter_map(|rr| match &rr.rdata {
            RData::SRV(s) => {
                let target = s.target.to_string().trim_end_matches('.').to_lowercase();
                let addr = p
                    .additional_records
                    .iter()
                    .filter(|a| eq_name(&a.name.to_string(), &target))
                    .find_map(|a| match &a.rdata {
                        RData::A(a) => Some(IpAddr::from(a.address.to_be_bytes())),
                        RData::AAAA(a) => Some(IpAddr::from(a.address.to_be_bytes())),
                        _ => None,
                    });
                Some(Srv {
                    target,
                    port: s.port,
                    weight: s.weight,
                    addr,
                })
            }
            _ => None,
        })
        .collect()
}

/// Whether the bytes are a DNS message at all (to tell an outdated answer from junk).
pub fn is_dns(bytes: &[u8]) -> bool {
    Packet::parse(bytes).is_ok()
}

/// Whether an answer went through a CNAME (`show resolvers` counts them).
pub fn has_cname(bytes: &[u8]) -> bool {
    Packet::parse(bytes).is_ok_and(|p| {
        p.answers
            .iter()
            .any(|rr| matches!(rr.rdata, RData::CNAME(_)))
    })
}

fn eq_name(a: &str, b: &str) -> bool {
    a.trim_end_matches('.')
        .eq_ignore_ascii_case(b.trim_end_matches('.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use simple_dns::ResourceRecord;
    use simple_dns::rdata::{A, AAAA, CNAME};

    fn reply(q: &[u8], rcode: RCODE, rrs: Vec<ResourceRecord<'static>>) -> Vec<u8> {
        reply_full(q, rcode, rrs, vec![], false)
    }

    fn reply_full(
        q: &[u8],
        rcode: RCODE,
        rrs: Vec<ResourceRecord<'static>>,
        additional: Vec<ResourceRecord<'static>>,
        truncated: bool,
    ) -> Vec<u8> {
        let q = Packet::parse(q).unwrap();
        let mut p = Packet::new_reply(q.id());
        *p.rcode_mut() = rcode;
        if truncated {
            p.set_flags(PacketFlag::TRUNCATION);
        }
        p.questions = q.questions.iter().map(|x| x.clone().into_owned()).collect();
        p.answers = rrs;
        p.additional_records = additional;
        p.build_bytes_vec().unwrap()
    }

    fn a(name: &'static str, ip: [u8; 4]) -> ResourceRecord<'static> {
        ResourceRecord::new(
            Name::new_unchecked(name),
            CLASS::IN,
            10,
            RData::A(A {
                address: u32::from_be_bytes(ip),
            }),
        )
    }

    #[test]
    fn reads_a_records_of_the_name() {
        let q = query(7, "app.test", Qtype::A, 512).unwrap();
        let r = reply(
            &q,
            RCODE::NoError,
            vec![
                a("app.test", [10, 0, 0, 1]),
                a("other.test", [10, 0, 0, 9]),
                a("APP.test", [10, 0, 0, 2]),
            ],
        );
        assert_eq!(
            answer(&r, 7, "app.test", Qtype::A),
            Some(Outcome::Valid(vec![
                "10.0.0.1".parse().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]))
        );
        // Another id, or a query rather than a response, is not the answer.
        assert_eq!(answer(&r, 8, "app.test", Qtype::A), None);
        assert_eq!(answer(&q, 7, "app.test", Qtype::A), None);
        assert_eq!(answer(&r, 7, "nope.test", Qtype::A), None);
        assert_eq!(answer(b"junk", 7, "app.test", Qtype::A), None);
    }

    #[test]
    fn follows_cnames_and_types() {
        let q = query(1, "www.test", Qtype::Aaaa, 1232).unwrap();
        assert!(
            Packet::parse(&q)
                .unwrap()
                .opt()
                .is_some_and(|o| o.udp_packet_size == 1232)
        );
        let r = reply(
            &q,
            RCODE::NoError,
            vec![
                ResourceRecord::new(
                    Name::new_unchecked("www.test"),
                    CLASS::IN,
                    10,
                    RData::CNAME(CNAME(Name::new_unchecked("real.test"))),
                ),
                a("real.test", [10, 0, 0, 3]),
                ResourceRecord::new(
                    Name::new_unchecked("real.test"),
                    CLASS::IN,
                    10,
                    RData::AAAA(AAAA { address: 1 }),
                ),
            ],
        );
        assert_eq!(
            answer(&r, 1, "www.test", Qtype::Aaaa),
            Some(Outcome::Valid(vec!["::1".parse().unwrap()]))
        );
    }

    #[test]
    fn reads_srv_records_with_their_additional_addresses() {
        let q = query(3, "_http._tcp.pool.test", Qtype::Srv, 512).unwrap();
        let srv = |target: &'static str, port, weight| {
            ResourceRecord::new(
                Name::new_unchecked("_http._tcp.pool.test"),
                CLASS::IN,
                10,
                RData::SRV(simple_dns::rdata::SRV {
                    priority: 0,
                    weight,
                    port,
                    target: Name::new_unchecked(target),
                }),
            )
        };
        // A truncated SRV answer is still read (HAProxy uses what it holds).
        let r = reply_full(
            &q,
            RCODE::NoError,
            vec![srv("A.pool.test", 8080, 512), srv("b.pool.test", 9090, 0)],
            vec![a("a.pool.test", [10, 0, 0, 1])],
            true,
        );
        assert_eq!(
            answer(&r, 3, "_http._tcp.pool.test", Qtype::Srv),
            Some(Outcome::Srv(vec![
                Srv {
                    target: "a.pool.test".into(),
                    port: 8080,
                    weight: 512,
                    addr: Some("10.0.0.1".parse().unwrap()),
                },
                Srv {
                    target: "b.pool.test".into(),
                    port: 9090,
                    weight: 0,
                    addr: None,
                },
            ]))
        );
        let q = query(4, "x.test", Qtype::A, 512).unwrap();
        let r = reply_full(&q, RCODE::NoError, vec![], vec![], true);
        assert_eq!(answer(&r, 4, "x.test", Qtype::A), Some(Outcome::Truncated));
    }

    #[test]
    fn classes_errors_for_hold() {
        let q = query(2, "gone.test", Qtype::A, 512).unwrap();
        assert!(Packet::parse(&q).unwrap().opt().is_none());
        let nx = reply(&q, RCODE::NameError, vec![]);
        assert_eq!(
            answer(&nx, 2, "gone.test", Qtype::A),
            Some(Outcome::NxDomain)
        );
        let refused = reply(&q, RCODE::Refused, vec![]);
        assert_eq!(
            answer(&refused, 2, "gone.test", Qtype::A),
            Some(Outcome::Refused)
        );
        let fail = reply(&q, RCODE::ServerFailure, vec![]);
        assert_eq!(
            answer(&fail, 2, "gone.test", Qtype::A),
            Some(Outcome::Other)
        );
        let empty = reply(&q, RCODE::NoError, vec![]);
        assert_eq!(
            answer(&empty, 2, "gone.test", Qtype::A),
            Some(Outcome::Valid(vec![]))
        );
    }
}
