/*
 * Hanzo Ingress dashboard: a dependency-free single page over the JSON API (../api/ relative to this page).
 *
 * Hash routes:
 *   #/                                   overview (counts, entry points, features, problems)
 *   #/http/routers[?search=&status=]     lists (also http/services, http/middlewares, tcp/*, udp/*)
 *   #/http/routers/<name>                router detail: entry points -> rule -> middlewares -> service -> servers
 *   #/http/services/<name>, #/http/middlewares/<name>, #/tcp/.../<name>, #/udp/.../<name>
 *
 * Every value from the API is inserted with textContent (never innerHTML), so names and error messages cannot
 * inject markup. The page works offline: it loads nothing but its own three files and the API.
 */
(function () {
  "use strict";

  var API = new URL("../api/", document.baseURI);
  var app = document.getElementById("app");
  var renderSeq = 0;

  // -- DOM helpers ---------------------------------------------------------------------------------------------------
  function el(tag, attrs) {
    var node = document.createElement(tag);
    var key;
    attrs = attrs || {};
    for (key in attrs) {
      if (!Object.prototype.hasOwnProperty.call(attrs, key) || attrs[key] === undefined || attrs[key] === null) {
        continue;
      }
      if (key === "text") {
        node.textContent = String(attrs[key]);
      } else if (key === "class") {
        node.className = attrs[key];
      } else {
        node.setAttribute(key, attrs[key]);
      }
    }
    for (var i = 2; i < arguments.length; i++) {
      append(node, arguments[i]);
    }
    return node;
  }

  function append(node, child) {
    if (child === undefined || child === null || child === false) {
      return;
    }
    if (Array.isArray(child)) {
      child.forEach(function (c) { append(node, c); });
    } else if (typeof child === "string" || typeof child === "number") {
      node.appendChild(document.createTextNode(String(child)));
    } else {
      node.appendChild(child);
    }
  }

  function link(href, text, cls) {
    return el("a", { href: href, text: text, class: cls });
  }

  function badge(status) {
    var s = status || "unknown";
    return el("span", { class: "badge badge-" + s, text: s });
  }

  // Internal routers sit at the top of the int64 range, which JavaScript numbers cannot hold: show them by name.
  var MAX_PRIORITY = { "9223372036854775807": "MaxInt", "9223372036854775806": "MaxInt-1", "9223372036854775805": "MaxInt-2" };

  function priorityText(it) {
    var p = it.priorityStr || (it.priority !== undefined ? String(it.priority) : "");
    return MAX_PRIORITY[p] || p;
  }

  function serverBadge(state) {
    var s = (state || "unknown").toLowerCase();
    return el("span", { class: "badge badge-server-" + s, text: state || "unknown" });
  }

  function errorList(errors) {
    if (!errors || !errors.length) {
      return null;
    }
    return el("ul", { class: "errors" }, errors.map(function (e) { return el("li", { text: e }); }));
  }

  function section(title) {
    var rest = Array.prototype.slice.call(arguments, 1);
    return el("section", { class: "panel" }, el("h2", { text: title }), rest);
  }

  function kv(rows) {
    return el("table", { class: "kv" }, el("tbody", null, rows.filter(Boolean).map(function (r) {
      return el("tr", null, el("th", { text: r[0] }), el("td", null, r[1]));
    })));
  }

  function pre(value) {
    return el("pre", { class: "json", text: JSON.stringify(value, null, 2) });
  }

  // -- API -----------------------------------------------------------------------------------------------------------
  function getJSON(path) {
    return fetch(new URL(path, API).toString(), { headers: { Accept: "application/json" } }).then(function (resp) {
      return resp.text().then(function (text) {
        var body = null;
        try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
        if (!resp.ok) {
          var err = new Error((body && body.message) || (resp.status + " " + resp.statusText));
          err.status = resp.status;
          throw err;
        }
        return { body: body, next: resp.headers.get("X-Next-Page") };
      });
    });
  }

  // Every page of a list endpoint (X-Next-Page is 1 on the last page).
  function getAll(path, params) {
    var out = [];
    function page(n) {
      var q = new URLSearchParams(params || {});
      q.set("page", String(n));
      q.set("per_page", "100");
      return getJSON(path + "?" + q.toString()).then(function (res) {
        out = out.concat(res.body || []);
        var next = parseInt(res.next || "1", 10);
        return next > n ? page(next) : out;
      }).catch(function (err) {
        if (err.status === 400 && n > 1) { return out; }
        throw err;
      });
    }
    return page(1);
  }

  function getItem(section, name) {
    return getJSON(section + "/" + encodeURIComponent(name)).then(function (r) { return r.body; });
  }

  function qualify(name, provider) {
    return name.indexOf("@") >= 0 || !provider ? name : name + "@" + provider;
  }

  function itemHref(section, name) {
    return "#/" + section + "/" + encodeURIComponent(name);
  }

  // -- routing -------------------------------------------------------------------------------------------------------
  function parseHash() {
    var raw = location.hash.replace(/^#/, "") || "/";
    var qpos = raw.indexOf("?");
    var path = qpos >= 0 ? raw.slice(0, qpos) : raw;
    var query = new URLSearchParams(qpos >= 0 ? raw.slice(qpos + 1) : "");
    var parts = path.split("/").filter(Boolean).map(function (p) {
      try { return decodeURIComponent(p); } catch (e) { return p; }
    });
    return { parts: parts, query: query };
  }

  function setNav(key) {
    Array.prototype.forEach.call(document.querySelectorAll("#nav a"), function (a) {
      a.classList.toggle("active", a.getAttribute("data-nav") === key);
    });
  }

  function render() {
    var seq = ++renderSeq;
    var route = parseHash();
    var parts = route.parts;
    var job;
    app.setAttribute("data-state", "loading");
    if (parts.length === 0) {
      setNav("overview");
      job = overview();
    } else if (parts.length >= 2 && ["http", "tcp", "udp"].indexOf(parts[0]) >= 0) {
      var sec = parts[0] + "/" + parts[1];
      setNav(parts[0] === "http" ? sec : parts[0]);
      if (parts.length === 2) {
        job = listPage(sec, route.query);
      } else if (sec === "http/routers") {
        job = routerPage(parts.slice(2).join("/"));
      } else {
        job = itemPage(sec, parts.slice(2).join("/"));
      }
    } else {
      setNav("");
      job = Promise.resolve(el("div", null, el("h1", { text: "Not found" }), link("#/", "Back to the overview")));
    }
    job.then(function (node) {
      if (seq !== renderSeq) { return; }
      app.replaceChildren(node);
      app.setAttribute("data-state", "ready");
    }).catch(function (err) {
      if (seq !== renderSeq) { return; }
      app.replaceChildren(el("div", { class: "panel failure" },
        el("h1", { text: err.status === 404 ? "Not found" : "Error" }),
        el("p", { text: err.message || String(err) }),
        link("#/", "Back to the overview")));
      app.setAttribute("data-state", err.status === 404 ? "not-found" : "error");
    });
  }

  // -- overview ------------------------------------------------------------------------------------------------------
  function plural(n, word) {
    return n + " " + word + (n === 1 ? "" : "s");
  }

  function countCard(title, href, counts) {
    counts = counts || { total: 0, warnings: 0, errors: 0 };
    var ok = Math.max(0, counts.total - counts.warnings - counts.errors);
    return el("a", { class: "card", href: href },
      el("div", { class: "card-title", text: title }),
      el("div", { class: "card-total", text: counts.total }),
      el("div", { class: "card-counts" },
        el("span", { class: "count-ok", text: ok + " ok" }),
        el("span", { class: "count-warning", text: plural(counts.warnings, "warning") }),
        el("span", { class: "count-error", text: plural(counts.errors, "error") })));
  }

  function overview() {
    var problemsOf = ["http/routers", "http/services", "http/middlewares"];
    return Promise.all([
      getJSON("overview"),
      getAll("entrypoints"),
      Promise.all(problemsOf.map(function (sec) {
        return Promise.all([getAll(sec, { status: "disabled" }), getAll(sec, { status: "warning" })]);
      })),
    ]).then(function (res) {
      var ov = res[0].body;
      var eps = res[1];
      var http = ov.http || {};
      var tcp = ov.tcp || {};
      var udp = ov.udp || {};
      var features = ov.features || {};
      var problems = [];
      res[2].forEach(function (pair, i) {
        pair[0].concat(pair[1]).forEach(function (item) { problems.push({ section: problemsOf[i], item: item }); });
      });

      var problemRows = problems.map(function (p) {
        return el("tr", null,
          el("td", null, badge(p.item.status)),
          el("td", { text: p.section.split("/")[1].replace(/s$/, "") }),
          el("td", null, link(itemHref(p.section, p.item.name), p.item.name)),
          el("td", null, errorList(p.item.error)));
      });

      return el("div", { class: "page", id: "overview" },
        el("h1", { text: "Overview" }),
        el("h3", { class: "group", text: "HTTP" }),
        el("div", { class: "cards" },
          countCard("Routers", "#/http/routers", http.routers),
          countCard("Services", "#/http/services", http.services),
          countCard("Middlewares", "#/http/middlewares", http.middlewares)),
        el("h3", { class: "group", text: "TCP / UDP" }),
        el("div", { class: "cards" },
          countCard("TCP routers", "#/tcp/routers", tcp.routers),
          countCard("TCP services", "#/tcp/services", tcp.services),
          countCard("TCP middlewares", "#/tcp/middlewares", tcp.middlewares),
          countCard("UDP routers", "#/udp/routers", udp.routers),
          countCard("UDP services", "#/udp/services", udp.services)),
        problems.length ? section("Problems",
          el("table", { class: "list", id: "problems" },
            el("thead", null, el("tr", null, ["Status", "Kind", "Name", "Errors"].map(function (h) {
              return el("th", { text: h });
            }))),
            el("tbody", null, problemRows))) : null,
        el("div", { class: "columns" },
          section("Entry points",
            el("table", { class: "list", id: "entrypoints" },
              el("thead", null, el("tr", null, el("th", { text: "Name" }), el("th", { text: "Address" }))),
              el("tbody", null, eps.map(function (ep) {
                return el("tr", null, el("td", { text: ep.name }), el("td", { class: "mono", text: ep.address }));
              })))),
          section("Features",
            kv([
              ["Tracing", features.tracing || "off"],
              ["Metrics", features.metrics || "off"],
              ["Access log", features.accessLog ? "on" : "off"],
              ["Providers", (ov.providers || []).join(", ") || "none"],
            ]))));
    });
  }

  // -- lists ---------------------------------------------------------------------------------------------------------
  var COLUMNS = {
    routers: [
      ["Name", function (it, sec) { return link(itemHref(sec, it.name), it.name); }],
      ["Rule", function (it) { return el("span", { class: "mono", text: it.rule || "" }); }],
      ["Entry points", function (it) { return (it.using && it.using.length ? it.using : it.entryPoints || []).join(", "); }],
      ["Service", function (it) { return it.service || ""; }],
      ["Provider", function (it) { return it.provider; }],
      ["Priority", function (it) { return priorityText(it); }],
    ],
    services: [
      ["Name", function (it, sec) { return link(itemHref(sec, it.name), it.name); }],
      ["Type", function (it) { return it.type || ""; }],
      ["Servers", function (it) { return serversSummary(it); }],
      ["Provider", function (it) { return it.provider; }],
      ["Used by", function (it) { return String((it.usedBy || []).length); }],
    ],
    middlewares: [
      ["Name", function (it, sec) { return link(itemHref(sec, it.name), it.name); }],
      ["Type", function (it) { return it.type || ""; }],
      ["Provider", function (it) { return it.provider; }],
      ["Used by", function (it) { return String((it.usedBy || []).length); }],
    ],
  };

  function serversSummary(service) {
    var lb = service.loadBalancer;
    if (!lb) { return ""; }
    var servers = lb.servers || [];
    var st = service.serverStatus || {};
    var down = servers.filter(function (s) { return st[s.url || s.address] === "DOWN"; }).length;
    return servers.length + (down ? " (" + down + " down)" : "");
  }

  function listPage(sec, query) {
    var kind = sec.split("/")[1];
    var cols = COLUMNS[kind] || COLUMNS.middlewares;
    var params = {};
    if (query.get("search")) { params.search = query.get("search"); }
    if (query.get("status")) { params.status = query.get("status"); }
    return getAll(sec, params).then(function (items) {
      var search = el("input", { type: "search", name: "search", placeholder: "Search by name" + (kind === "routers" ? " or rule" : ""), value: params.search || "" });
      var status = el("select", { name: "status" }, ["", "enabled", "warning", "disabled"].map(function (s) {
        var opt = el("option", { value: s, text: s || "all statuses" });
        if (s === (params.status || "")) { opt.selected = true; }
        return opt;
      }));
      var form = el("form", { class: "filters" }, search, status, el("button", { type: "submit", text: "Filter" }));
      function apply(ev) {
        if (ev) { ev.preventDefault(); }
        var q = new URLSearchParams();
        if (search.value) { q.set("search", search.value); }
        if (status.value) { q.set("status", status.value); }
        var qs = q.toString();
        location.hash = "#/" + sec + (qs ? "?" + qs : "");
      }
      form.addEventListener("submit", apply);
      status.addEventListener("change", apply);

      var rows = [];
      items.forEach(function (it) {
        rows.push(el("tr", { class: "item status-" + it.status, "data-name": it.name },
          el("td", null, badge(it.status)),
          cols.map(function (c) { return el("td", null, c[1](it, sec)); })));
        if (it.error && it.error.length) {
          rows.push(el("tr", { class: "error-row" }, el("td"), el("td", { colspan: String(cols.length) }, errorList(it.error))));
        }
      });
      var title = (sec.split("/")[0].toUpperCase()) + " " + kind;
      return el("div", { class: "page", id: "list" },
        el("h1", { text: title }),
        form,
        items.length
          ? el("table", { class: "list", id: "items" },
            el("thead", null, el("tr", null, el("th", { text: "Status" }), cols.map(function (c) { return el("th", { text: c[0] }); }))),
            el("tbody", null, rows))
          : el("p", { class: "muted empty", text: "Nothing here." }));
    });
  }

  // -- router detail: the path of a request ---------------------------------------------------------------------------
  function step(title, body, cls) {
    return el("div", { class: "step " + (cls || "") }, el("div", { class: "step-title", text: title }), body);
  }

  function arrow() {
    return el("div", { class: "arrow", "aria-hidden": "true", text: "\u2192" });
  }

  function serverList(service) {
    var lb = service && service.loadBalancer;
    if (!lb) { return null; }
    var st = service.serverStatus || {};
    var servers = lb.servers || [];
    if (!servers.length) { return el("p", { class: "muted", text: "no servers" }); }
    return el("ul", { class: "servers" }, servers.map(function (s) {
      var url = s.url || s.address || "";
      return el("li", null, serverBadge(st[url]), " ", el("span", { class: "mono", text: url }),
        s.weight !== undefined && s.weight !== 1 ? el("span", { class: "muted", text: " weight " + s.weight }) : null);
    }));
  }

  function childServices(service) {
    if (!service) { return []; }
    if (service.weighted) { return (service.weighted.services || []).map(function (s) { return s.name; }); }
    if (service.highestRandomWeight) { return (service.highestRandomWeight.services || []).map(function (s) { return s.name; }); }
    if (service.failover) { return [service.failover.service, service.failover.fallback]; }
    if (service.mirroring) {
      return [service.mirroring.service].concat((service.mirroring.mirrors || []).map(function (m) { return m.name; }));
    }
    return [];
  }

  // A service with its servers, following weighted/failover/mirroring children a few levels down.
  function serviceTree(name, provider, depth) {
    var qname = qualify(name, provider);
    return getItem("http/services", qname).then(function (svc) {
      var kids = depth < 3 ? childServices(svc) : [];
      return Promise.all(kids.map(function (k) { return serviceTree(k, svc.provider, depth + 1); })).then(function (children) {
        return el("div", { class: "service-node" },
          el("div", { class: "node-head" }, badge(svc.status), " ", link(itemHref("http/services", svc.name), svc.name),
            el("span", { class: "muted", text: " " + (svc.type || "") })),
          errorList(svc.error),
          serverList(svc),
          children.length ? el("div", { class: "children" }, children) : null);
      });
    }).catch(function (err) {
      return el("div", { class: "service-node missing" },
        el("div", { class: "node-head" }, badge("disabled"), " ", el("span", { text: qname })),
        errorList([err.message]));
    });
  }

  function middlewareCard(name, provider) {
    var qname = qualify(name, provider);
    return getItem("http/middlewares", qname).then(function (mw) {
      return el("div", { class: "mw" }, badge(mw.status), " ", link(itemHref("http/middlewares", mw.name), mw.name),
        el("div", { class: "muted", text: mw.type || "" }), errorList(mw.error));
    }).catch(function (err) {
      return el("div", { class: "mw missing" }, badge("disabled"), " ", el("span", { text: qname }), errorList([err.message]));
    });
  }

  function routerPage(name) {
    return getItem("http/routers", name).then(function (r) {
      var provider = r.provider;
      var mws = r.middlewares || [];
      return Promise.all([
        Promise.all(mws.map(function (m) { return middlewareCard(m, provider); })),
        r.service ? serviceTree(r.service, provider, 0) : Promise.resolve(el("p", { class: "muted", text: "no service" })),
      ]).then(function (res) {
        var flow = el("div", { class: "flow", id: "flow" },
          step("Entry points", el("div", null, (r.using && r.using.length ? r.using : r.entryPoints || []).map(function (ep) {
            return el("span", { class: "chip", text: ep });
          }))),
          arrow(),
          step("Rule", el("code", { class: "rule", text: r.rule || "" })),
          arrow(),
          step("Middlewares", res[0].length ? el("div", { class: "stack" }, res[0]) : el("p", { class: "muted", text: "none" })),
          arrow(),
          step("Service and servers", res[1], "wide"));
        return el("div", { class: "page", id: "router" },
          el("h1", null, el("span", { class: "kind", text: "Router " }), el("span", { id: "item-name", text: r.name }), " ", badge(r.status)),
          r.error && r.error.length ? el("div", { class: "panel failure", id: "item-errors" }, el("h2", { text: "Errors" }), errorList(r.error)) : null,
          flow,
          el("div", { class: "columns" },
            section("Details", kv([
              ["Provider", r.provider],
              ["Priority", priorityText(r)],
              ["Entry points", (r.entryPoints || []).join(", ") || "(default)"],
              ["Serving on", (r.using || []).join(", ") || "nothing"],
              ["TLS", r.tls ? JSON.stringify(r.tls) : "no"],
            ])),
            section("Raw", pre(r))));
      });
    });
  }

  // -- other details -------------------------------------------------------------------------------------------------
  function itemPage(sec, name) {
    return getItem(sec, name).then(function (it) {
      var kind = sec.split("/")[1].replace(/s$/, "");
      var usedBy = it.usedBy || [];
      var routerSec = sec.split("/")[0] + "/routers";
      var extra = null;
      if (sec === "http/services") {
        var kids = childServices(it);
        extra = [
          it.loadBalancer ? section("Servers", serverList(it)) : null,
          kids.length ? section("Child services", el("ul", null, kids.map(function (k) {
            var q = qualify(k, it.provider);
            return el("li", null, link(itemHref("http/services", q), q));
          }))) : null,
        ];
      }
      return el("div", { class: "page", id: "detail" },
        el("h1", null, el("span", { class: "kind", text: kind.charAt(0).toUpperCase() + kind.slice(1) + " " }),
          el("span", { id: "item-name", text: it.name }), " ", badge(it.status)),
        it.error && it.error.length ? el("div", { class: "panel failure", id: "item-errors" }, el("h2", { text: "Errors" }), errorList(it.error)) : null,
        el("div", { class: "columns" },
          section("Details", kv([
            ["Provider", it.provider],
            it.type ? ["Type", it.type] : null,
            ["Used by", usedBy.length ? el("span", null, usedBy.map(function (u, i) {
              return [i ? ", " : "", link(itemHref(routerSec, u), u)];
            })) : "nobody"],
          ])),
          extra),
        section("Configuration", pre(it)));
    });
  }

  // -- boot ----------------------------------------------------------------------------------------------------------
  getJSON("version").then(function (res) {
    var v = res.body || {};
    document.getElementById("version").textContent = "v" + (v.Version || "?");
  }).catch(function () { /* the version is decoration */ });

  window.addEventListener("hashchange", render);
  render();
})();
