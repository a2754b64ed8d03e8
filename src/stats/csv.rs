//! HAProxy's stats CSV (`;csv` on the stats page, `show stat` on the stats socket): a
//! header line of the field names, one line per row, an empty line at the end. Every line
//! ends with a comma; an empty field is left empty.

use super::{FIELDS, MODULE_FIELDS, Row, Snapshot, Val};
use std::fmt::Write as _;

/// The header line, `# pxname,svname,…,` with its newline.
pub fn header(out: &mut String) {
    out.push_str("# ");
    for (i, (name, ..)) in FIELDS.iter().enumerate() {
        if i == MODULE_FIELDS {
            out.push_str("-,");
        }
        out.push_str(name);
        out.push(',');
    }
    out.push('\n');
}

/// One row's line.
pub fn row(r: &Row, out: &mut String) {
    for (i, v) in r.v.iter().enumerate() {
        if i == MODULE_FIELDS {
            out.push_str("-,");
        }
        value(v, out);
        out.push(',');
    }
    out.push('\n');
}

/// A value as the CSV writes it: strings with their commas and line breaks replaced, as
/// HAProxy's csv_enc does for the fields it quotes.
pub fn value(v: &Val, out: &mut String) {
    match v {
        Val::Empty => {}
        Val::U(n) => {
            let _ = write!(out, "{n}");
        }
        Val::S(n) => {
            let _ = write!(out, "{n}");
        }
        Val::Str(s) => {
            if s.contains([',', '"', '\n', '\r']) {
                out.push('"');
                for c in s.chars() {
                    match c {
                        '"' => out.push_str("\"\""),
                        '\n' | '\r' => out.push(' '),
                        c => out.push(c),
                    }
                }
                out.push('"');
            } else {
                out.push_str(s);
            }
        }
    }
}

/// The whole CSV of `rows` (a filtered subset of a snapshot's, or all of them).
pub fn render<'a>(rows: impl IntoIterator<Item = &'a Row>) -> String {
    let mut out = String::with_capacity(4096);
    header(&mut out);
    for r in rows {
        row(r, &mut out);
    }
    out.push('\n');
    out
}

/// The CSV of a snapshot.
pub fn render_all(s: &Snapshot) -> String {
    render(&s.rows)
}

#[cfg(test)]
mod tests {
    use super::super::{ObjType, f};
    use super::*;

    /// HAProxy 2.6.12's header, as `curl 'http://…/stats;csv'` prints it.
    const HAPROXY_26_HEADER: &str = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,weight,act,bck,chkfail,chkdown,lastchg,downtime,qlimit,pid,iid,sid,throttle,lbtot,tracked,type,rate,rate_lim,rate_max,check_status,check_code,check_duration,hrsp_1xx,hrsp_2xx,hrsp_3xx,hrsp_4xx,hrsp_5xx,hrsp_other,hanafail,req_rate,req_rate_max,req_tot,cli_abrt,srv_abrt,comp_in,comp_out,comp_byp,comp_rsp,lastsess,last_chk,last_agt,qtime,ctime,rtime,ttime,agent_status,agent_code,agent_duration,check_desc,agent_desc,check_rise,check_fall,check_health,agent_rise,agent_fall,agent_health,addr,cookie,mode,algo,conn_rate,conn_rate_max,conn_tot,intercepted,dcon,dses,wrew,connect,reuse,cache_lookups,cache_hits,srv_icur,src_ilim,qtime_max,ctime_max,rtime_max,ttime_max,eint,idle_conn_cur,safe_conn_cur,used_conn_cur,need_conn_est,uweight,agg_server_status,agg_server_check_status,agg_check_status,-,ssl_sess,ssl_reused_sess,ssl_failed_handshake,h2_headers_rcvd,h2_data_rcvd,h2_settings_rcvd,h2_rst_stream_rcvd,h2_goaway_rcvd,h2_detected_conn_protocol_errors,h2_detected_strm_protocol_errors,h2_rst_stream_resp,h2_goaway_resp,h2_open_connections,h2_backend_open_streams,h2_total_connections,h2_backend_total_streams,h1_open_connections,h1_open_streams,h1_total_connections,h1_total_streams,h1_bytes_in,h1_bytes_out,h1_spliced_bytes_in,h1_spliced_bytes_out,\n";

    #[test]
    fn header_is_haproxy_26s() {
        let mut h = String::new();
        header(&mut h);
        assert_eq!(h, HAPROXY_26_HEADER);
    }

    #[test]
    fn rows_end_with_a_comma_and_the_output_with_an_empty_line() {
        let mut r = Row::new(ObjType::Frontend, 0, 2, 0);
        r.v[f::PXNAME] = Val::Str("web".into());
        r.v[f::SVNAME] = Val::Str("FRONTEND".into());
        r.v[f::STOT] = Val::U(5);
        r.v[f::LASTSESS] = Val::S(-1);
        r.v[f::CHECK_DESC] = Val::Str("a, \"b\"".into());
        let out = render([&r]);
        let lines: Vec<&str> = out.split('\n').collect();
        assert_eq!(lines.len(), 4, "header, row, empty line");
        assert_eq!(lines[2], "");
        let fields: Vec<&str> = lines[1].split(',').collect();
        assert_eq!(&fields[..8], ["web", "FRONTEND", "", "", "", "", "", "5"]);
        assert!(lines[1].ends_with(','));
        assert!(lines[1].contains(",-1,"));
        assert!(lines[1].contains(",\"a, \"\"b\"\"\","));
        // As many commas as the header.
        let n = |s: &str| s.matches(',').count();
        assert_eq!(
            n(lines[0]),
            n(lines[1]) - 1,
            "the quoted field has one comma"
        );
    }
}
