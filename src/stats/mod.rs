//! Statistics: the counters every shard keeps ([`counters`], owned by `cluster`), a snapshot of them with the
//! servers' shared state in HAProxy's stat fields ([`Snapshot`], built on read by
//! [`snapshot::take`]), and pure renderers of a snapshot: the CSV of the stats page and
//! `show stat` ([`csv`]), its typed JSON ([`json`]), `show stat typed` ([`typed`]), the HTML page ([`html`]) and the
//! Prometheus exposition ([`prom`]). Nothing here runs on a request's path except the
//! counters' relaxed writes; the rest runs when someone asks.
//!
//! Layer: reads `cluster` (shared state and counters), renders with `h1`; no I/O, so it
//! sits beside `net`, below `proxy` (which serves the stats page) and `runtime` (the stats
//! socket).

pub mod admin;
pub mod csv;
pub mod desc;
pub mod html;
pub mod json;
pub mod page;
pub mod prom;
pub mod snapshot;
pub mod typed;

pub use crate::cluster::counters::{self, Counters, ShardCounters, StreamEnd};
pub use snapshot::{Snapshot, take};

pub use crate::cluster::CheckStatus;

/// The kind of a row (`type` field, JSON `objType`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObjType {
    Frontend = 0,
    Backend = 1,
    Server = 2,
    Listener = 3,
}

impl ObjType {
    pub fn json_name(self) -> &'static str {
        match self {
            ObjType::Frontend => "Frontend",
            ObjType::Backend => "Backend",
            ObjType::Server => "Server",
            ObjType::Listener => "Listener",
        }
    }
}

/// One stat field's value; `Empty` is a field HAProxy leaves empty for this row.
#[derive(Clone, Debug, PartialEq)]
pub enum Val {
    Empty,
    U(u64),
    /// Signed (HAProxy's `s32`: `lastsess` is -1 before the first session).
    S(i64),
    Str(String),
}

impl Val {
    pub fn u(&self) -> Option<u64> {
        match self {
            Val::U(v) => Some(*v),
            Val::S(v) if *v >= 0 => Some(*v as u64),
            _ => None,
        }
    }
    pub fn str(&self) -> Option<&str> {
        match self {
            Val::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// A field's tags in `show stat typed` / JSON (HAProxy's `field_origin`, `field_nature`,
/// `field_scope`, `field_format`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Metric,
    Status,
    Key,
    Config,
    Product,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nature {
    Gauge,
    Limit,
    Min,
    Max,
    Rate,
    Counter,
    Duration,
    Age,
    Time,
    Name,
    Output,
    Avg,
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Process,
    Service,
    System,
    Cluster,
}

/// Each tag's name in the JSON and its letter in `show stat typed`, from one table.
impl Origin {
    pub fn tag(self) -> (&'static str, char) {
        match self {
            Origin::Metric => ("Metric", 'M'),
            Origin::Status => ("Status", 'S'),
            Origin::Key => ("Key", 'K'),
            Origin::Config => ("Config", 'C'),
            Origin::Product => ("Product", 'P'),
        }
    }
}
impl Nature {
    pub fn tag(self) -> (&'static str, char) {
        match self {
            Nature::Gauge => ("Gauge", 'G'),
            Nature::Limit => ("Limit", 'L'),
            Nature::Min => ("Min", 'm'),
            Nature::Max => ("Max", 'M'),
            Nature::Rate => ("Rate", 'R'),
            Nature::Counter => ("Counter", 'C'),
            Nature::Duration => ("Duration", 'D'),
            Nature::Age => ("Age", 'A'),
            Nature::Time => ("Time", 'T'),
            Nature::Name => ("Name", 'N'),
            Nature::Output => ("Output", 'O'),
            Nature::Avg => ("Avg", 'a'),
        }
    }
}
impl Scope {
    pub fn tag(self) -> (&'static str, char) {
        match self {
            Scope::Process => ("Process", 'P'),
            Scope::Service => ("Service", 'S'),
            Scope::System => ("System", 's'),
            Scope::Cluster => ("Cluster", 'C'),
        }
    }
}
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    S32,
    U32,
    U64,
    STR,
}

use Format::*;
use Nature::*;
use Origin::*;
use Scope::*;

/// HAProxy 2.6's stat fields in CSV order: the 103 general ones (0–102), then the fields
/// of the ssl, h2 and h1 modules, which the CSV header separates with a `-`.
pub static FIELDS: [(&str, Origin, Nature, Scope, Format); 127] = [
    ("pxname", Key, Name, Service, STR),
    ("svname", Key, Name, Service, STR),
    ("qcur", Metric, Gauge, Process, U32),
    ("qmax", Metric, Max, Process, U32),
    ("scur", Metric, Gauge, Process, U32),
    ("smax", Metric, Max, Process, U32),
    ("slim", Config, Limit, Process, U32),
    ("stot", Metric, Counter, Process, U64),
    ("bin", Metric, Counter, Process, U64),
    ("bout", Metric, Counter, Process, U64),
    ("dreq", Metric, Counter, Process, U64),
    ("dresp", Metric, Counter, Process, U64),
    ("ereq", Metric, Counter, Process, U64),
    ("econ", Metric, Counter, Process, U64),
    ("eresp", Metric, Counter, Process, U64),
    ("wretr", Metric, Counter, Process, U64),
    ("wredis", Metric, Counter, Process, U64),
    ("status", Status, Gauge, Process, STR),
    ("weight", Metric, Avg, Process, U32),
    ("act", Status, Gauge, Process, U32),
    ("bck", Status, Gauge, Process, U32),
    ("chkfail", Metric, Counter, Process, U64),
    ("chkdown", Metric, Counter, Process, U64),
    ("lastchg", Metric, Age, Process, U32),
    ("downtime", Metric, Counter, Process, U32),
    ("qlimit", Config, Limit, Process, U32),
    ("pid", Key, Gauge, Process, U32),
    ("iid", Key, Gauge, Service, U32),
    ("sid", Key, Gauge, Service, U32),
    ("throttle", Metric, Avg, Process, U32),
    ("lbtot", Metric, Counter, Process, U64),
    ("tracked", Config, Name, Service, STR),
    ("type", Config, Gauge, Service, U32),
    ("rate", Metric, Rate, Process, U32),
    ("rate_lim", Config, Limit, Process, U32),
    ("rate_max", Metric, Max, Process, U32),
    ("check_status", Metric, Output, Process, STR),
    ("check_code", Metric, Output, Process, U32),
    ("check_duration", Metric, Duration, Process, U64),
    ("hrsp_1xx", Metric, Counter, Process, U64),
    ("hrsp_2xx", Metric, Counter, Process, U64),
    ("hrsp_3xx", Metric, Counter, Process, U64),
    ("hrsp_4xx", Metric, Counter, Process, U64),
    ("hrsp_5xx", Metric, Counter, Process, U64),
    ("hrsp_other", Metric, Counter, Process, U64),
    ("hanafail", Metric, Counter, Process, U64),
    ("req_rate", Metric, Rate, Process, U32),
    ("req_rate_max", Metric, Max, Process, U32),
    ("req_tot", Metric, Counter, Process, U64),
    ("cli_abrt", Metric, Counter, Process, U64),
    ("srv_abrt", Metric, Counter, Process, U64),
    ("comp_in", Metric, Counter, Process, U64),
    ("comp_out", Metric, Counter, Process, U64),
    ("comp_byp", Metric, Counter, Process, U64),
    ("comp_rsp", Metric, Counter, Process, U64),
    ("lastsess", Metric, Age, Process, S32),
    ("last_chk", Metric, Output, Process, STR),
    ("last_agt", Metric, Output, Process, STR),
    ("qtime", Metric, Avg, Process, U32),
    ("ctime", Metric, Avg, Process, U32),
    ("rtime", Metric, Avg, Process, U32),
    ("ttime", Metric, Avg, Process, U32),
    ("agent_status", Metric, Output, Process, STR),
    ("agent_code", Metric, Output, Process, U32),
    ("agent_duration", Metric, Duration, Process, U64),
    ("check_desc", Metric, Output, Process, STR),
    ("agent_desc", Config, Output, Process, STR),
    ("check_rise", Config, Gauge, Service, U32),
    ("check_fall", Config, Gauge, Service, U32),
    ("check_health", Config, Gauge, Service, U32),
    ("agent_rise", Config, Gauge, Service, U32),
    ("agent_fall", Config, Gauge, Service, U32),
    ("agent_health", Config, Gauge, Service, U32),
    ("addr", Config, Output, Service, STR),
    ("cookie", Config, Name, Service, STR),
    ("mode", Config, Gauge, Service, STR),
    ("algo", Config, Output, Service, STR),
    ("conn_rate", Metric, Rate, Process, U32),
    ("conn_rate_max", Metric, Max, Process, U32),
    ("conn_tot", Metric, Counter, Process, U64),
    ("intercepted", Metric, Counter, Process, U64),
    ("dcon", Metric, Counter, Process, U64),
    ("dses", Metric, Counter, Process, U64),
    ("wrew", Metric, Counter, Process, U64),
    ("connect", Metric, Counter, Process, U64),
    ("reuse", Metric, Counter, Process, U64),
    ("cache_lookups", Metric, Counter, Process, U64),
    ("cache_hits", Metric, Counter, Process, U64),
    ("srv_icur", Metric, Gauge, Process, U32),
    ("src_ilim", Metric, Gauge, Process, U32),
    ("qtime_max", Metric, Max, Process, U32),
    ("ctime_max", Metric, Max, Process, U32),
    ("rtime_max", Metric, Max, Process, U32),
    ("ttime_max", Metric, Max, Process, U32),
    ("eint", Metric, Counter, Process, U64),
    ("idle_conn_cur", Metric, Gauge, Process, U32),
    ("safe_conn_cur", Metric, Gauge, Process, U32),
    ("used_conn_cur", Metric, Gauge, Process, U32),
    ("need_conn_est", Metric, Gauge, Process, U32),
    ("uweight", Metric, Avg, Process, U32),
    ("agg_server_status", Metric, Gauge, Process, U32),
    ("agg_server_check_status", Metric, Gauge, Process, U32),
    ("agg_check_status", Metric, Gauge, Process, U32),
    ("ssl_sess", Metric, Counter, Process, U64),
    ("ssl_reused_sess", Metric, Counter, Process, U64),
    ("ssl_failed_handshake", Metric, Counter, Process, U64),
    ("h2_headers_rcvd", Metric, Counter, Process, U64),
    ("h2_data_rcvd", Metric, Counter, Process, U64),
    ("h2_settings_rcvd", Metric, Counter, Process, U64),
    ("h2_rst_stream_rcvd", Metric, Counter, Process, U64),
    ("h2_goaway_rcvd", Metric, Counter, Process, U64),
    (
        "h2_detected_conn_protocol_errors",
        Metric,
        Counter,
        Process,
        U64,
    ),
    (
        "h2_detected_strm_protocol_errors",
        Metric,
        Counter,
        Process,
        U64,
    ),
    ("h2_rst_stream_resp", Metric, Counter, Process, U64),
    ("h2_goaway_resp", Metric, Counter, Process, U64),
    ("h2_open_connections", Metric, Gauge, Process, U64),
    ("h2_backend_open_streams", Metric, Gauge, Process, U64),
    ("h2_total_connections", Metric, Counter, Process, U64),
    ("h2_backend_total_streams", Metric, Counter, Process, U64),
    ("h1_open_connections", Metric, Gauge, Process, U64),
    ("h1_open_streams", Metric, Gauge, Process, U64),
    ("h1_total_connections", Metric, Counter, Process, U64),
    ("h1_total_streams", Metric, Counter, Process, U64),
    ("h1_bytes_in", Metric, Counter, Process, U64),
    ("h1_bytes_out", Metric, Counter, Process, U64),
    ("h1_spliced_bytes_in", Metric, Counter, Process, U64),
    ("h1_spliced_bytes_out", Metric, Counter, Process, U64),
];

/// Where the module fields start (the CSV prints `-` before them).
pub const MODULE_FIELDS: usize = 103;

/// Field positions by name.
#[allow(dead_code)]
pub mod f {
    pub const PXNAME: usize = 0;
    pub const SVNAME: usize = 1;
    pub const QCUR: usize = 2;
    pub const QMAX: usize = 3;
    pub const SCUR: usize = 4;
    pub const SMAX: usize = 5;
    pub const SLIM: usize = 6;
    pub const STOT: usize = 7;
    pub const BIN: usize = 8;
    pub const BOUT: usize = 9;
    pub const DREQ: usize = 10;
    pub const DRESP: usize = 11;
    pub const EREQ: usize = 12;
    pub const ECON: usize = 13;
    pub const ERESP: usize = 14;
    pub const WRETR: usize = 15;
    pub const WREDIS: usize = 16;
    pub const STATUS: usize = 17;
    pub const WEIGHT: usize = 18;
    pub const ACT: usize = 19;
    pub const BCK: usize = 20;
    pub const CHKFAIL: usize = 21;
    pub const CHKDOWN: usize = 22;
    pub const LASTCHG: usize = 23;
    pub const DOWNTIME: usize = 24;
    pub const QLIMIT: usize = 25;
    pub const PID: usize = 26;
    pub const IID: usize = 27;
    pub const SID: usize = 28;
    pub const THROTTLE: usize = 29;
    pub const LBTOT: usize = 30;
    pub const TRACKED: usize = 31;
    pub const TYPE: usize = 32;
    pub const RATE: usize = 33;
    pub const RATE_LIM: usize = 34;
    pub const RATE_MAX: usize = 35;
    pub const CHECK_STATUS: usize = 36;
    pub const CHECK_CODE: usize = 37;
    pub const CHECK_DURATION: usize = 38;
    pub const HRSP_1XX: usize = 39;
    pub const HRSP_2XX: usize = 40;
    pub const HRSP_3XX: usize = 41;
    pub const HRSP_4XX: usize = 42;
    pub const HRSP_5XX: usize = 43;
    pub const HRSP_OTHER: usize = 44;
    pub const HANAFAIL: usize = 45;
    pub const REQ_RATE: usize = 46;
    pub const REQ_RATE_MAX: usize = 47;
    pub const REQ_TOT: usize = 48;
    pub const CLI_ABRT: usize = 49;
    pub const SRV_ABRT: usize = 50;
    pub const COMP_IN: usize = 51;
    pub const COMP_OUT: usize = 52;
    pub const COMP_BYP: usize = 53;
    pub const COMP_RSP: usize = 54;
    pub const LASTSESS: usize = 55;
    pub const LAST_CHK: usize = 56;
    pub const LAST_AGT: usize = 57;
    pub const QTIME: usize = 58;
    pub const CTIME: usize = 59;
    pub const RTIME: usize = 60;
    pub const TTIME: usize = 61;
    pub const AGENT_STATUS: usize = 62;
    pub const AGENT_CODE: usize = 63;
    pub const AGENT_DURATION: usize = 64;
    pub const CHECK_DESC: usize = 65;
    pub const AGENT_DESC: usize = 66;
    pub const CHECK_RISE: usize = 67;
    pub const CHECK_FALL: usize = 68;
    pub const CHECK_HEALTH: usize = 69;
    pub const AGENT_RISE: usize = 70;
    pub const AGENT_FALL: usize = 71;
    pub const AGENT_HEALTH: usize = 72;
    pub const ADDR: usize = 73;
    pub const COOKIE: usize = 74;
    pub const MODE: usize = 75;
    pub const ALGO: usize = 76;
    pub const CONN_RATE: usize = 77;
    pub const CONN_RATE_MAX: usize = 78;
    pub const CONN_TOT: usize = 79;
    pub const INTERCEPTED: usize = 80;
    pub const DCON: usize = 81;
    pub const DSES: usize = 82;
    pub const WREW: usize = 83;
    pub const CONNECT: usize = 84;
    pub const REUSE: usize = 85;
    pub const CACHE_LOOKUPS: usize = 86;
    pub const CACHE_HITS: usize = 87;
    pub const SRV_ICUR: usize = 88;
    pub const SRC_ILIM: usize = 89;
    pub const QTIME_MAX: usize = 90;
    pub const CTIME_MAX: usize = 91;
    pub const RTIME_MAX: usize = 92;
    pub const TTIME_MAX: usize = 93;
    pub const EINT: usize = 94;
    pub const IDLE_CONN_CUR: usize = 95;
    pub const SAFE_CONN_CUR: usize = 96;
    pub const USED_CONN_CUR: usize = 97;
    pub const NEED_CONN_EST: usize = 98;
    pub const UWEIGHT: usize = 99;
    pub const AGG_SERVER_STATUS: usize = 100;
    pub const AGG_SERVER_CHECK_STATUS: usize = 101;
    pub const AGG_CHECK_STATUS: usize = 102;
    pub const SSL_SESS: usize = 103;
    pub const SSL_REUSED_SESS: usize = 104;
    pub const SSL_FAILED_HANDSHAKE: usize = 105;
    pub const H2_HEADERS_RCVD: usize = 106;
    pub const H2_DATA_RCVD: usize = 107;
    pub const H2_SETTINGS_RCVD: usize = 108;
    pub const H2_RST_STREAM_RCVD: usize = 109;
    pub const H2_GOAWAY_RCVD: usize = 110;
    pub const H2_DETECTED_CONN_PROTOCOL_ERRORS: usize = 111;
    pub const H2_DETECTED_STRM_PROTOCOL_ERRORS: usize = 112;
    pub const H2_RST_STREAM_RESP: usize = 113;
    pub const H2_GOAWAY_RESP: usize = 114;
    pub const H2_OPEN_CONNECTIONS: usize = 115;
    pub const H2_BACKEND_OPEN_STREAMS: usize = 116;
    pub const H2_TOTAL_CONNECTIONS: usize = 117;
    pub const H2_BACKEND_TOTAL_STREAMS: usize = 118;
    pub const H1_OPEN_CONNECTIONS: usize = 119;
    pub const H1_OPEN_STREAMS: usize = 120;
    pub const H1_TOTAL_CONNECTIONS: usize = 121;
    pub const H1_TOTAL_STREAMS: usize = 122;
    pub const H1_BYTES_IN: usize = 123;
    pub const H1_BYTES_OUT: usize = 124;
    pub const H1_SPLICED_BYTES_IN: usize = 125;
    pub const H1_SPLICED_BYTES_OUT: usize = 126;
}

/// One row: a frontend, backend, server or listener.
#[derive(Clone, Debug)]
pub struct Row {
    pub obj: ObjType,
    /// The proxy's numeric id (`iid`) and the server's (`sid`, 0 otherwise).
    pub iid: u32,
    pub sid: u32,
    /// Index in the configuration's proxies (for grouping).
    pub proxy: usize,
    pub v: Vec<Val>,
}

impl Row {
    pub fn new(obj: ObjType, proxy: usize, iid: u32, sid: u32) -> Row {
        Row {
            obj,
            iid,
            sid,
            proxy,
            v: vec![Val::Empty; FIELDS.len()],
        }
    }
    pub fn get(&self, f: usize) -> &Val {
        &self.v[f]
    }
    pub fn name(&self) -> &str {
        self.v[f::PXNAME].str().unwrap_or("")
    }
    pub fn svname(&self) -> &str {
        self.v[f::SVNAME].str().unwrap_or("")
    }
    pub fn status(&self) -> &str {
        self.v[f::STATUS].str().unwrap_or("")
    }
}
