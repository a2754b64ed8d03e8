//! The HTML stats page, laid out like HAProxy's: a header with the process information,
//! then one table per proxy (its frontend row, its server rows, its backend row) with the
//! queue, session rate, sessions, bytes, denied, errors, warnings and server columns, each
//! server row coloured by its state with HAProxy's CSS classes. With `stats admin`, a
//! backend's table has a checkbox per server and a form for the page's actions.

use super::snapshot::Info;
use super::{ObjType, Row, Snapshot, Val, f};
use std::fmt::Write as _;

/// How the page is shown (from the proxy's `stats` settings and the request).
#[derive(Clone, Debug, Default)]
pub struct PageOpts {
    /// The stats URI, for links (`;csv`, `;norefresh`, …) and the admin form.
    pub uri: String,
    /// `stats refresh`, unless `;norefresh` asked otherwise.
    pub refresh: Option<u64>,
    pub hide_version: bool,
    pub show_legends: bool,
    /// `stats show-node [NAME]`.
    pub node: Option<String>,
    /// `stats show-desc [TEXT]`.
    pub desc: Option<String>,
    /// `stats admin` holds for this request.
    pub admin: bool,
    /// The outcome of the last admin action (`;st=DONE` …), shown in a banner.
    pub status: Option<String>,
}

const STYLE: &str = "body { font-family: arial, helvetica, sans-serif; font-size: 12px; font-weight: normal; color: black; background: white;}
th,td { font-size: 10px;}
h1 { font-size: x-large; margin-bottom: 0.5em;}
h3 { font-family: helvetica, arial; font-size: 16px; font-weight: bold; color: #b00040; background: #e8e8d0; margin-top: 0em; margin-bottom: 0em;}
.titre	{background: #20D0D0;color: #000000; font-weight: bold; text-align: center;}
.frontend	{background: #e8e8d0;}
.backend	{background: #e8e8d0;}
.active_down		{background: #ff9090;}
.active_going_up		{background: #ffd020;}
.active_going_down	{background: #ffffa0;}
.active_up		{background: #c0ffc0;}
.active_nolb		{background: #20a0ff;}
.active_draining		{background: #20a0FF;}
.active_no_check		{background: #e0e0e0;}
.backup_down		{background: #ff9090;}
.backup_going_up		{background: #ff80ff;}
.backup_going_down	{background: #c060ff;}
.backup_up		{background: #b0d0ff;}
.backup_nolb		{background: #90b0e0;}
.backup_draining		{background: #cc9900;}
.backup_no_check		{background: #e0e0e0;}
.maintain	{background: #c07820;}
table.tbl { border-collapse: collapse; border-style: none;}
table.tbl td { text-align: right; border-width: 1px 1px 1px 1px; border-style: solid solid solid solid; padding: 2px 3px; border-color: gray; white-space: nowrap;}
table.tbl td.ac { text-align: center;}
table.tbl th { border-width: 1px; border-style: solid solid solid solid; border-color: gray;}
table.tbl th.pxname { background: #b00040; color: #ffff40; font-weight: bold; border-style: solid solid none solid; padding: 2px 3px; white-space: nowrap;}
table.tbl th.empty { border-style: none; empty-cells: hide; background: white;}
table.lgd { border-collapse: collapse; border-width: 1px; border-style: none none none solid; border-color: black;}
table.lgd td { border-width: 1px; border-style: solid solid solid solid; border-color: gray; padding: 2px;}
table.lgd td.noborder { border-style: none; padding: 2px; white-space: nowrap;}
";

/// Text escaped for HTML.
pub fn esc(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn e(s: &str) -> String {
    let mut o = String::new();
    esc(s, &mut o);
    o
}

/// The CSS class of a server row, as HAProxy picks it.
pub fn server_class(r: &Row) -> &'static str {
    let st = r.status();
    let bck = r.get(f::BCK).u() == Some(1);
    if st.starts_with("MAINT") {
        return "maintain";
    }
    let (active, backup) = if st == "no check" {
        ("active_no_check", "backup_no_check")
    } else if st.starts_with("DRAIN") {
        ("active_draining", "backup_draining")
    } else if st.starts_with("NOLB") {
        ("active_nolb", "backup_nolb")
    } else if st.starts_with("UP ") {
        ("active_going_down", "backup_going_down")
    } else if st.starts_with("DOWN ") {
        ("active_going_up", "backup_going_up")
    } else if st.starts_with("UP") {
        ("active_up", "backup_up")
    } else {
        ("active_down", "backup_down")
    };
    if bck { backup } else { active }
}

/// A cell: the field's value, or empty.
fn td(out: &mut String, v: &Val) {
    out.push_str("<td>");
    match v {
        Val::U(n) => {
            let _ = write!(out, "{n}");
        }
        Val::S(n) if *n >= 0 => {
            let _ = write!(out, "{n}");
        }
        Val::Str(s) => esc(s, out),
        _ => {}
    }
    out.push_str("</td>");
}

/// Seconds as HAProxy's human_time(): `3d4h`, `5m12s`, `42s`.
pub fn human_time(s: u64) -> String {
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d{h}h")
    } else if h > 0 {
        format!("{h}h{m}m")
    } else if m > 0 {
        format!("{m}m{sec}s")
    } else {
        format!("{sec}s")
    }
}

fn header(i: &Info, o: &PageOpts, out: &mut String) {
    out.push_str(
        "<!DOCTYPE HTML PUBLIC \"-//W3C//DTD HTML 4.01 Transitional//EN\"\n\"http://www.w3.org/TR/html4/loose.dtd\">\n<html><head><title>Statistics Report for corelb",
    );
    if let Some(n) = &o.node {
        out.push_str(" on ");
        esc(n, out);
    }
    out.push_str(
        "</title>\n<meta http-equiv=\"content-type\" content=\"text/html; charset=iso-8859-1\">\n",
    );
    if let Some(r) = o.refresh {
        let _ = writeln!(out, "<meta http-equiv=\"refresh\" content=\"{r}\">");
    }
    let _ = write!(
        out,
        "<style type=\"text/css\"><!--\n{STYLE}--></style></head>\n<body><h1>corelb"
    );
    if !o.hide_version {
        let _ = write!(out, " version {}", i.version);
    }
    out.push_str("</h1>\n<h3>&gt; General process information</h3>\n<table border=0><tr><td align=\"left\" nowrap width=\"1%\"><p>");
    let _ = write!(
        out,
        "<b>pid = </b> {} (process #1, nbproc = 1, nbthread = {})<br>\n<b>uptime = </b> {}<br>\n<b>system limits:</b> memmax = unlimited; ulimit-n = {}<br>\n<b>maxsock = </b> {}; <b>maxconn = </b> {}; <b>maxpipes = </b> 0<br>\ncurrent conns = {}; current pipes = 0/0; conn rate = {}/sec<br>\n",
        i.pid,
        i.nbthread,
        human_time(i.uptime),
        i.max_fds,
        i.max_fds,
        i.maxconn,
        i.curr_conns,
        i.conn_rate,
    );
    if let Some(n) = &o.node {
        out.push_str("<b>node = </b>");
        esc(n, out);
        out.push_str("<br>\n");
    }
    if let Some(d) = &o.desc {
        out.push_str("<b>description = </b>");
        esc(d, out);
        out.push_str("<br>\n");
    }
    out.push_str("</p></td>");
    if o.show_legends {
        out.push_str("<td align=\"center\" nowrap><table class=\"lgd\"><tr>");
        for (class, text) in [
            ("active_up", "active UP"),
            ("backup_up", "backup UP"),
            ("active_going_down", "active UP, going down"),
            ("backup_going_down", "backup UP, going down"),
            ("active_going_up", "active DOWN, going up"),
            ("backup_going_up", "backup DOWN, going up"),
            ("active_down", "active or backup DOWN"),
            ("active_no_check", "not checked"),
            ("maintain", "active or backup DOWN for maintenance (MAINT)"),
            (
                "active_draining",
                "active or backup SOFT STOPPED for maintenance",
            ),
        ] {
            let _ = write!(
                out,
                "<td class=\"{class}\">&nbsp;</td><td class=\"noborder\">{text}</td>"
            );
        }
        out.push_str(
            "</tr></table>Note: \"NOLB\"/\"DRAIN\" = UP with load-balancing disabled.</td>",
        );
    }
    let u = e(&o.uri);
    let _ = write!(
        out,
        "<td align=\"left\" valign=\"top\" nowrap width=\"1%\"><b>Display option:</b><ul style=\"margin-top: 0.25em;\"><li><a href=\"{u}{}\">{}</a><br>\n<li><a href=\"{u};up\">Hide 'DOWN' servers</a><br>\n<li><a href=\"{u};csv\">CSV export</a><br>\n<li><a href=\"{u};json\">JSON export</a><br>\n</ul></td></tr></table>\n",
        if o.refresh.is_some() {
            ";norefresh"
        } else {
            ""
        },
        if o.refresh.is_some() {
            "Disable refresh"
        } else {
            "Refresh now"
        },
    );
    if let Some(st) = &o.status {
        out.push_str("<p><div class=active_up><b>");
        esc(st, out);
        out.push_str("</b></div></p>\n");
    }
}

const COLUMNS: &str = "<tr class=\"titre\"><th rowspan=2></th><th colspan=3>Queue</th><th colspan=3>Session rate</th><th colspan=6>Sessions</th><th colspan=2>Bytes</th><th colspan=2>Denied</th><th colspan=3>Errors</th><th colspan=2>Warnings</th><th colspan=9>Server</th></tr>\n<tr class=\"titre\"><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Cur</th><th>Max</th><th>Limit</th><th>Total</th><th>LbTot</th><th>Last</th><th>In</th><th>Out</th><th>Req</th><th>Resp</th><th>Req</th><th>Conn</th><th>Resp</th><th>Retr</th><th>Redis</th><th>Status</th><th>LastChk</th><th>Wght</th><th>Act</th><th>Bck</th><th>Chk</th><th>Dwn</th><th>Dwntme</th><th>Thrtle</th></tr>\n";

fn row(r: &Row, admin: bool, out: &mut String) {
    let class = match r.obj {
        ObjType::Frontend => "frontend",
        ObjType::Backend => "backend",
        ObjType::Listener => "socket",
        ObjType::Server => server_class(r),
    };
    let _ = write!(out, "<tr class=\"{class}\">");
    if admin {
        out.push_str("<td>");
        if r.obj == ObjType::Server {
            out.push_str("<input type=\"checkbox\" name=\"s\" value=\"");
            esc(r.svname(), out);
            out.push_str("\">");
        }
        out.push_str("</td>");
    }
    out.push_str("<td class=ac>");
    esc(
        match r.obj {
            ObjType::Frontend => "Frontend",
            ObjType::Backend => "Backend",
            _ => r.svname(),
        },
        out,
    );
    out.push_str("</td>");
    let v = |k: usize| r.get(k);
    for k in [
        f::QCUR,
        f::QMAX,
        f::QLIMIT,
        f::RATE,
        f::RATE_MAX,
        f::RATE_LIM,
    ] {
        td(out, v(k));
    }
    for k in [f::SCUR, f::SMAX, f::SLIM, f::STOT, f::LBTOT] {
        td(out, v(k));
    }
    td(
        out,
        &match v(f::LASTSESS) {
            Val::S(s) if *s >= 0 => Val::Str(human_time(*s as u64)),
            _ => Val::Empty,
        },
    );
    for k in [
        f::BIN,
        f::BOUT,
        f::DREQ,
        f::DRESP,
        f::EREQ,
        f::ECON,
        f::ERESP,
        f::WRETR,
        f::WREDIS,
    ] {
        td(out, v(k));
    }
    out.push_str("<td class=ac>");
    let status = r.status();
    match (r.obj, v(f::LASTCHG).u()) {
        (ObjType::Server | ObjType::Backend, Some(t)) => {
            let _ = write!(out, "{} ", human_time(t));
            esc(status, out);
        }
        _ => esc(status, out),
    }
    out.push_str("</td><td class=ac>");
    if let Some(c) = v(f::CHECK_STATUS).str() {
        esc(c, out);
        if let Some(code) = v(f::CHECK_CODE).u() {
            let _ = write!(out, "/{code}");
        }
        if let Some(ms) = v(f::CHECK_DURATION).u() {
            let _ = write!(out, " in {ms}ms");
        }
    }
    out.push_str("</td>");
    for k in [f::WEIGHT, f::ACT, f::BCK, f::CHKFAIL, f::CHKDOWN] {
        if r.obj == ObjType::Frontend {
            out.push_str("<td></td>");
        } else {
            td(out, v(k));
        }
    }
    td(
        out,
        &match v(f::DOWNTIME).u() {
            Some(t) if r.obj != ObjType::Frontend => Val::Str(human_time(t)),
            _ => Val::Empty,
        },
    );
    td(out, v(f::THROTTLE));
    out.push_str("</tr>\n");
}

/// The page for `s`.
pub fn render(s: &Snapshot, o: &PageOpts) -> String {
    let mut out = String::with_capacity(32 * 1024);
    header(&s.info, o, &mut out);
    for rows in s.rows.chunk_by(|a, b| a.proxy == b.proxy) {
        let backend = rows.iter().find(|r| r.obj == ObjType::Backend);
        let admin = o.admin && backend.is_some();
        if admin {
            out.push_str("<form method=\"post\">");
        }
        out.push_str("<table class=\"tbl\" width=\"100%\">\n<tr class=\"titre\"><th class=\"pxname\" width=\"10%\">");
        esc(rows[0].name(), &mut out);
        out.push_str("</th><th class=\"empty\" width=\"90%\"></th></tr>\n</table>\n<table class=\"tbl\" width=\"100%\">\n");
        if admin {
            out.push_str(&COLUMNS.replacen(
                "<th rowspan=2>",
                "<th rowspan=2></th><th rowspan=2>",
                1,
            ));
        } else {
            out.push_str(COLUMNS);
        }
        for r in rows {
            row(r, admin, &mut out);
        }
        out.push_str("</table>\n");
        if let (true, Some(b)) = (admin, backend) {
            let _ = writeln!(
                out,
                "Choose the action to perform on the checked servers : <select name=action><option value=\"\"></option><option value=\"ready\">Set state to READY</option><option value=\"drain\">Set state to DRAIN</option><option value=\"maint\">Set state to MAINT</option><option value=\"dhlth\">Health: disable checks</option><option value=\"ehlth\">Health: enable checks</option></select><input type=\"hidden\" name=\"b\" value=\"#{}\"><input type=\"submit\" value=\"Apply\"></form>",
                b.iid
            );
        }
        out.push_str("<p>\n");
    }
    out.push_str("</body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_table_per_proxy_coloured_by_state() {
        let mut rows = Vec::new();
        let mut fe = Row::new(ObjType::Frontend, 0, 1, 0);
        fe.v[f::PXNAME] = Val::Str("web".into());
        fe.v[f::STATUS] = Val::Str("OPEN".into());
        rows.push(fe);
        for (name, st, bck) in [("a", "UP", 0), ("b<", "DOWN", 0), ("c", "MAINT", 1)] {
            let mut r = Row::new(ObjType::Server, 1, 2, 1);
            r.v[f::PXNAME] = Val::Str("app".into());
            r.v[f::SVNAME] = Val::Str(name.into());
            r.v[f::STATUS] = Val::Str(st.into());
            r.v[f::BCK] = Val::U(bck);
            rows.push(r);
        }
        let mut be = Row::new(ObjType::Backend, 1, 2, 0);
        be.v[f::PXNAME] = Val::Str("app".into());
        be.v[f::STATUS] = Val::Str("UP".into());
        rows.push(be);
        let s = Snapshot {
            rows,
            info: Default::default(),
        };
        let o = PageOpts {
            uri: "/stats".into(),
            refresh: Some(10),
            admin: true,
            ..Default::default()
        };
        let page = render(&s, &o);
        assert_eq!(page.matches("class=\"pxname\"").count(), 2);
        assert!(page.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
        assert!(page.contains("<tr class=\"active_up\">"));
        assert!(page.contains("<tr class=\"active_down\">"));
        assert!(page.contains("<tr class=\"maintain\">"));
        assert!(page.contains("value=\"b&lt;\""), "names are escaped");
        assert!(page.contains("<input type=\"hidden\" name=\"b\" value=\"#2\">"));
        assert_eq!(page.matches("<form").count(), 1, "only the backend's table");
        assert_eq!(human_time(3725), "1h2m");
        assert_eq!(human_time(59), "59s");
    }
}
