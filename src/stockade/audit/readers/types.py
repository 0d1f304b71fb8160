"""Audit record type numbers and names (include/uapi/linux/audit.h and libaudit's table)."""

from __future__ import annotations

import re

AUDIT_USER_AVC = 1107
AUDIT_SYSCALL = 1300
AUDIT_PATH = 1302
AUDIT_SOCKADDR = 1306
AUDIT_CWD = 1307
AUDIT_EXECVE = 1309
AUDIT_EOE = 1320
AUDIT_SECCOMP = 1326
AUDIT_PROCTITLE = 1327
AUDIT_AVC = 1400
AUDIT_AVC_PATH = 1402
AUDIT_LANDLOCK_ACCESS = 1423
AUDIT_LANDLOCK_DOMAIN = 1424
AUDIT_APPARMOR_FIRST = 1500
AUDIT_APPARMOR_LAST = 1507

TYPE_NAMES: dict[int, str] = {
    1100: "USER_AUTH", 1101: "USER_ACCT", 1102: "USER_MGMT", 1103: "CRED_ACQ",
    1104: "CRED_DISP", 1105: "USER_START", 1106: "USER_END", 1107: "USER_AVC",
    1108: "USER_CHAUTHTOK", 1109: "USER_ERR", 1110: "CRED_REFR", 1111: "USYS_CONFIG",
    1112: "USER_LOGIN", 1113: "USER_LOGOUT", 1114: "ADD_USER", 1115: "DEL_USER",
    1116: "ADD_GROUP", 1117: "DEL_GROUP", 1118: "DAC_CHECK", 1119: "CHGRP_ID",
    1120: "TEST", 1121: "TRUSTED_APP", 1122: "USER_SELINUX_ERR", 1123: "USER_CMD",
    1124: "USER_TTY", 1125: "CHUSER_ID", 1126: "GRP_AUTH", 1127: "SYSTEM_BOOT",
    1128: "SYSTEM_SHUTDOWN", 1129: "SYSTEM_RUNLEVEL", 1130: "SERVICE_START",
    1131: "SERVICE_STOP", 1132: "GRP_MGMT", 1133: "GRP_CHAUTHTOK", 1134: "MAC_CHECK",
    1135: "ACCT_LOCK", 1136: "ACCT_UNLOCK", 1137: "USER_DEVICE", 1138: "SOFTWARE_UPDATE",
    1200: "DAEMON_START", 1201: "DAEMON_END", 1202: "DAEMON_ABORT", 1203: "DAEMON_CONFIG",
    1204: "DAEMON_RECONFIG", 1205: "DAEMON_ROTATE", 1206: "DAEMON_RESUME",
    1207: "DAEMON_ACCEPT", 1208: "DAEMON_CLOSE", 1209: "DAEMON_ERR",
    1300: "SYSCALL", 1302: "PATH", 1303: "IPC", 1304: "SOCKETCALL", 1305: "CONFIG_CHANGE",
    1306: "SOCKADDR", 1307: "CWD", 1309: "EXECVE", 1311: "IPC_SET_PERM", 1312: "MQ_OPEN",
    1313: "MQ_SENDRECV", 1314: "MQ_NOTIFY", 1315: "MQ_GETSETATTR", 1316: "KERNEL_OTHER",
    1317: "FD_PAIR", 1318: "OBJ_PID", 1319: "TTY", 1320: "EOE", 1321: "BPRM_FCAPS",
    1322: "CAPSET", 1323: "MMAP", 1324: "NETFILTER_PKT", 1325: "NETFILTER_CFG",
    1326: "SECCOMP", 1327: "PROCTITLE", 1328: "FEATURE_CHANGE", 1329: "REPLACE",
    1330: "KERN_MODULE", 1331: "FANOTIFY", 1332: "TIME_INJOFFSET", 1333: "TIME_ADJNTPVAL",
    1334: "BPF", 1335: "EVENT_LISTENER", 1336: "URINGOP", 1337: "OPENAT2",
    1338: "DM_CTRL", 1339: "DM_EVENT",
    1400: "AVC", 1401: "SELINUX_ERR", 1402: "AVC_PATH", 1403: "MAC_POLICY_LOAD",
    1404: "MAC_STATUS", 1405: "MAC_CONFIG_CHANGE", 1420: "IPE_ACCESS",
    1421: "IPE_CONFIG_CHANGE", 1422: "IPE_POLICY_LOAD", 1423: "LANDLOCK_ACCESS",
    1424: "LANDLOCK_DOMAIN",
    1500: "APPARMOR", 1501: "APPARMOR_AUDIT", 1502: "APPARMOR_ALLOWED",
    1503: "APPARMOR_DENIED", 1504: "APPARMOR_HINT", 1505: "APPARMOR_STATUS",
    1506: "APPARMOR_ERROR", 1507: "APPARMOR_KILL",
    1700: "ANOM_PROMISCUOUS", 1701: "ANOM_ABEND", 1702: "ANOM_LINK", 1703: "ANOM_CREAT",
    1800: "INTEGRITY_DATA", 1801: "INTEGRITY_METADATA", 1802: "INTEGRITY_STATUS",
    1803: "INTEGRITY_HASH", 1804: "INTEGRITY_PCR", 1805: "INTEGRITY_RULE",
    2000: "KERNEL",
}  # fmt: skip
TYPE_NUMBERS: dict[str, int] = {name: number for number, name in TYPE_NAMES.items()}

_UNKNOWN = re.compile(r"UNKNOWN\[(\d+)\]")
_cache: dict[str, int] = {}


def type_number(token: str) -> int:
    """The record type of `AVC`, `1400` or `UNKNOWN[1423]`; 0 when it cannot be known."""
    number = _cache.get(token)
    if number is not None:
        return number
    if token.isdigit():
        number = int(token)
    else:
        match = _UNKNOWN.fullmatch(token)
        number = int(match.group(1)) if match else TYPE_NUMBERS.get(token, 0)
    if len(_cache) < 4096:
        _cache[token] = number
    return number


def type_name(number: int) -> str:
    """`AVC` for 1400, `UNKNOWN[1999]` for a number this table does not know."""
    return TYPE_NAMES.get(number) or f"UNKNOWN[{number}]"


def is_user_message(number: int) -> bool:
    """User-space messages (1100-1299, 2100-2999) are whole events of one record."""
    return 1100 <= number <= 1299 or 2100 <= number <= 2999
