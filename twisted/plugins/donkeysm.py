from twisted.application.service import ServiceMaker

donkeysm = ServiceMaker(
    "donkey", "donkey.tap", "SEMS-compatible DSM SIP application server", "donkeysm"
)
