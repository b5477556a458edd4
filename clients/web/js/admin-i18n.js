// Every string the admin console shows, in English and Chinese. Data from the server never
// goes through here; everything is set with textContent.

const STRINGS = {
  en: {
    title: "LiveBridge admin",
    token_intro: "This console is for server admins. Paste an admin token (`livebridge token --admin`).",
    token_label: "Admin token",
    open: "Open console",
    sign_out: "Sign out",
    refused: "Refused: {msg}",
    network: "Cannot reach the server: {msg}",
    updated: "Updated {time}",
    charts: "Live (last minutes)",
    chart_messages: "Messages/s",
    chart_deliveries: "Deliveries/s",
    chart_connections: "Connections",
    chart_latency: "Translation latency (s), p50 / p99",
    nodes: "Nodes",
    node: "Node", uptime: "Uptime", connections: "Connections", rooms: "Rooms", engine: "Engine",
    store: "Store", translation: "Translation", backend: "Backend", queue: "Queue", workers: "Workers",
    version: "Version", rtt: "RTT ms",
    rooms_title: "Rooms by activity",
    search_rooms: "Search rooms",
    room: "Room", members: "Members", msgs: "Msg/s", deliveries: "Deliveries/s", p99: "Tr. p99 s",
    failures: "Tr. fail/s", held: "Held", state: "State", actions: "Actions",
    host_tools: "host tools", lock: "Lock", unlock: "Unlock", close: "Close", reopen: "Reopen",
    closed: "closed", locked: "locked", open_state: "open",
    prev: "Previous", next: "Next", page: "Page {n} of {total} rooms",
    users: "Users",
    find_user: "Find a user (id or name)",
    find: "Find",
    user: "User", name: "Name", on_node: "Node", conn: "Connection",
    disconnect: "Disconnect", ban: "Ban",
    no_users: "No connected user matches.",
    bans: "Global bans",
    user_id: "User id", reason: "Reason", expires_min: "Expires in (minutes, empty: never)",
    ban_user: "Ban everywhere", unban: "Lift", by: "By", expires: "Expires", never: "never",
    disconnect_user: "Disconnect everywhere",
    disconnected: "{user}: {n} connection(s) closed",
    banned: "{user} banned; {n} connection(s) closed",
    terms: "Global blocked terms",
    term: "Term", add_term: "Add", remove: "Remove",
    audit: "Audit log",
    time: "Time", actor: "Actor", action: "Action", target: "Target",
    done: "Done.",
    ui_language: "Language",
  },
  zh: {
    title: "LiveBridge 管理台",
    token_intro: "此控制台仅供服务器管理员使用。请粘贴管理员令牌（`livebridge token --admin`）。",
    token_label: "管理员令牌",
    open: "打开控制台",
    sign_out: "退出",
    refused: "被拒绝：{msg}",
    network: "无法连接服务器：{msg}",
    updated: "更新于 {time}",
    charts: "实时（最近几分钟）",
    chart_messages: "消息/秒",
    chart_deliveries: "投递/秒",
    chart_connections: "连接数",
    chart_latency: "翻译延迟（秒），p50 / p99",
    nodes: "节点",
    node: "节点", uptime: "运行时间", connections: "连接", rooms: "房间", engine: "引擎",
    store: "存储", translation: "翻译", backend: "后端", queue: "队列", workers: "工作进程",
    version: "版本", rtt: "往返 ms",
    rooms_title: "按活跃度排列的房间",
    search_rooms: "搜索房间",
    room: "房间", members: "成员", msgs: "消息/秒", deliveries: "投递/秒", p99: "翻译 p99 秒",
    failures: "翻译失败/秒", held: "待审", state: "状态", actions: "操作",
    host_tools: "主持工具", lock: "锁定", unlock: "解锁", close: "关闭", reopen: "重新开放",
    closed: "已关闭", locked: "已锁定", open_state: "开放",
    prev: "上一页", next: "下一页", page: "第 {n} 页，共 {total} 个房间",
    users: "用户",
    find_user: "查找用户（ID 或名字）",
    find: "查找",
    user: "用户", name: "名字", on_node: "节点", conn: "连接",
    disconnect: "断开", ban: "封禁",
    no_users: "没有匹配的在线用户。",
    bans: "全局封禁",
    user_id: "用户 ID", reason: "原因", expires_min: "有效期（分钟，留空为永久）",
    ban_user: "全局封禁", unban: "解除", by: "执行者", expires: "到期", never: "永久",
    disconnect_user: "全局断开",
    disconnected: "{user}：已关闭 {n} 个连接",
    banned: "{user} 已封禁；已关闭 {n} 个连接",
    terms: "全局屏蔽词",
    term: "词语", add_term: "添加", remove: "移除",
    audit: "审计日志",
    time: "时间", actor: "执行者", action: "操作", target: "对象",
    done: "完成。",
    ui_language: "语言",
  },
};

let current = "en";

export function setLang(lang) {
  current = STRINGS[lang] ? lang : "en";
  document.documentElement.lang = current === "zh" ? "zh-CN" : "en";
}

export function lang() {
  return current;
}

export function t(key, vars) {
  let text = (STRINGS[current] && STRINGS[current][key]) || STRINGS.en[key] || key;
  if (vars) for (const [k, v] of Object.entries(vars)) text = text.split(`{${k}}`).join(String(v));
  return text;
}
