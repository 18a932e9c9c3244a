-- Wireshark / tshark dissector for ShadowBell binary event records (version 1).
-- The record layout is described in Docs/Formats.md, "ShadowBell binary event record".
--
-- Use:   tshark -X lua_script:Docs/wireshark/shadowbell.lua -r trace.pcap
--        wireshark -X lua_script:Docs/wireshark/shadowbell.lua trace.pcap
-- or copy this file into Wireshark's personal Lua plugins folder.
--
-- Records are carried under LINKTYPE_USER0 (147) by default; the dissector is registered for
-- USER0-USER15 except USER2 (149) and gives packets that do not start with "SBEV" back to
-- Wireshark.

local sb = Proto("shadowbell", "ShadowBell event record")

local kinds = {
    [1] = "driver-doorbell-update", [2] = "driver-submit", [3] = "driver-complete",
    [4] = "driver-sq-head", [5] = "guest-message",
    [10] = "controller-shadow-read", [11] = "controller-eventidx-write", [12] = "mmio-doorbell",
    [13] = "controller-fetch", [14] = "controller-completion", [15] = "queue-create",
    [16] = "queue-delete", [17] = "dbbuf-config", [18] = "controller-reset",
    [19] = "controller-enable", [20] = "interrupt", [21] = "register-write",
    [30] = "data-loss", [31] = "recording-end",
}
local sides = { [0] = "driver", [1] = "controller", [2] = "trace" }
local queue_types = { [0] = "sq", [1] = "cq" }

local f = sb.fields
f.magic = ProtoField.string("shadowbell.magic", "Magic")
f.version = ProtoField.uint8("shadowbell.version", "Version")
f.length = ProtoField.uint8("shadowbell.length", "Record length")
f.side = ProtoField.uint8("shadowbell.side", "Side", base.DEC, sides)
f.kind = ProtoField.uint8("shadowbell.kind", "Kind", base.DEC, kinds)
f.flags = ProtoField.uint8("shadowbell.flags", "Event flags", base.HEX)
f.flag_mmio = ProtoField.bool("shadowbell.flags.mmio", "Rang MMIO doorbell", 8, nil, 0x01)
f.flag_creates = ProtoField.bool("shadowbell.flags.creates_queue", "Creates a queue", 8, nil, 0x02)
f.flag_raw = ProtoField.bool("shadowbell.flags.raw_register_write", "From a raw register write", 8, nil, 0x04)
f.queue_type = ProtoField.uint8("shadowbell.queue_type", "Queue type", base.DEC, queue_types)
f.record_flags = ProtoField.uint8("shadowbell.record_flags", "Record flags", base.HEX)
f.rflag_ordinal = ProtoField.bool("shadowbell.record_flags.time_is_ordinal", "Time is an ordinal", 8, nil, 0x01)
f.rflag_line = ProtoField.bool("shadowbell.record_flags.location_is_line", "Location is a line number", 8, nil, 0x02)
f.controller = ProtoField.uint16("shadowbell.controller", "Controller")
f.qid = ProtoField.uint16("shadowbell.qid", "Queue id")
f.a = ProtoField.uint32("shadowbell.a", "a")
f.b = ProtoField.uint32("shadowbell.b", "b")
f.c = ProtoField.uint32("shadowbell.c", "c")
f.source = ProtoField.uint16("shadowbell.source", "Original source index")
f.wide = ProtoField.uint64("shadowbell.wide", "wide", base.HEX)
f.location = ProtoField.uint64("shadowbell.location", "Original location")

local e_short = ProtoExpert.new("shadowbell.short", "Record shorter than its version says",
    expert.group.MALFORMED, expert.severity.ERROR)
local e_long = ProtoExpert.new("shadowbell.long", "Record longer than its version says",
    expert.group.MALFORMED, expert.severity.ERROR)
local e_version = ProtoExpert.new("shadowbell.unknown_version", "Unknown record version",
    expert.group.UNDECODED, expert.severity.WARN)
sb.experts = { e_short, e_long, e_version }

local V1_LENGTH = 48

-- What a and b mean for each kind, for the Info column.
local function summary(kind, tvb)
    local a, b, c = tvb(16, 4):le_uint(), tvb(20, 4):le_uint(), tvb(24, 4):le_uint()
    local flags = tvb(8, 1):uint()
    if kind == 1 then
        return string.format("old=%u new=%u eventidx=%u mmio=%u", a, b, c, bit.band(flags, 1))
    elseif kind == 2 or kind == 3 then
        return string.format("cmdid=%u %s=%u", a, kind == 2 and "b" or "status", b)
    elseif kind == 4 then
        return string.format("head=%u tail=%u", a, b)
    elseif kind == 10 or kind == 11 or kind == 12 then
        return string.format("value=%u", a)
    elseif kind == 13 then
        return string.format("cid=%u opcode=0x%x", a, b)
    elseif kind == 14 then
        return string.format("cid=%u status=0x%x", a, b)
    elseif kind == 15 then
        return string.format("qsize=%u b=%u", a, b)
    elseif kind == 20 then
        return string.format("vector=%u", a)
    elseif kind == 30 then
        return string.format("lost=%u", a)
    end
    return string.format("a=%u b=%u c=%u", a, b, c)
end

function sb.dissector(tvb, pinfo, tree)
    local n = tvb:captured_len()
    if n < 6 or tvb(0, 4):string() ~= "SBEV" then return 0 end
    pinfo.cols.protocol = "ShadowBell"
    local t = tree:add(sb, tvb(0, n))
    t:add(f.magic, tvb(0, 4))
    local version = tvb(4, 1):uint()
    local vitem = t:add(f.version, tvb(4, 1))
    t:add(f.length, tvb(5, 1))
    if version ~= 1 then
        vitem:add_proto_expert_info(e_version, "version " .. version .. " (this dissector reads version 1)")
        pinfo.cols.info = "unknown record version " .. version
        return n
    end
    if n < V1_LENGTH then
        t:add_proto_expert_info(e_short, string.format("%d bytes, version 1 needs %d", n, V1_LENGTH))
        pinfo.cols.info = "malformed: short record"
        return n
    end
    if n > V1_LENGTH then
        t:add_proto_expert_info(e_long, string.format("%d bytes, version 1 defines %d", n, V1_LENGTH))
    end
    local kind = tvb(7, 1):uint()
    t:add(f.side, tvb(6, 1))
    t:add(f.kind, tvb(7, 1))
    local ft = t:add(f.flags, tvb(8, 1))
    ft:add(f.flag_mmio, tvb(8, 1))
    ft:add(f.flag_creates, tvb(8, 1))
    ft:add(f.flag_raw, tvb(8, 1))
    t:add(f.queue_type, tvb(9, 1))
    local rt = t:add(f.record_flags, tvb(10, 1))
    rt:add(f.rflag_ordinal, tvb(10, 1))
    rt:add(f.rflag_line, tvb(10, 1))
    t:add_le(f.controller, tvb(12, 2))
    t:add_le(f.qid, tvb(14, 2))
    t:add_le(f.a, tvb(16, 4))
    t:add_le(f.b, tvb(20, 4))
    t:add_le(f.c, tvb(24, 4))
    t:add_le(f.source, tvb(28, 2))
    t:add_le(f.wide, tvb(32, 8))
    t:add_le(f.location, tvb(40, 8))
    local queue = string.format("nvme%u:%s%u", tvb(12, 2):le_uint(), queue_types[tvb(9, 1):uint()] or "?",
        tvb(14, 2):le_uint())
    pinfo.cols.info = string.format("%s %s %s", kinds[kind] or ("kind " .. kind), queue, summary(kind, tvb))
    return V1_LENGTH
end

local encaps = DissectorTable.get("wtap_encap")
local user = wtap_encaps or wtap
for i = 0, 15 do
    if i ~= 2 then
        local encap = user["USER" .. i]
        if encap then encaps:add(encap, sb) end
    end
end
