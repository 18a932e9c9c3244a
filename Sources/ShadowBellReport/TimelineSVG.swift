import ShadowBellAnalysis
import ShadowBellCore

/// Places events on the horizontal axis in their order, with a spacing that grows with the
/// logarithm of the time between them: a microsecond race and a 30-second hang fit in one
/// picture, and events with the same stamp stay side by side. Labels give the real times.
public struct EventAxis: Sendable {
    public let times: [Int64]
    public let xs: [Double]
    public let left: Double
    public let right: Double

    /// `times` in order (one per event slot); the slots fill `left...right`.
    public init(times: [Int64], left: Double, right: Double) {
        self.times = times
        self.left = left
        self.right = right
        guard times.count > 1 else {
            xs = times.map { _ in (left + right) / 2 }
            return
        }
        var raw: [Double] = [0]
        for i in 1..<times.count {
            let gap = Double(max(0, times[i] - times[i - 1]))
            raw.append(raw[i - 1] + 1 + log2(1 + gap / 1_000))
        }
        let scale = (right - left) / raw[raw.count - 1]
        xs = raw.map { left + $0 * scale }
    }

    /// The x of the first slot stamped at or after `t` (the right edge past the last slot).
    public func x(atOrAfter t: Int64) -> Double {
        if let i = times.firstIndex(where: { $0 >= t }) { return xs[i] }
        return right
    }
}

/// log2 without Foundation.
func log2(_ v: Double) -> Double {
    guard v > 0 else { return 0 }
    var x = v
    var e = 0.0
    while x >= 2 { x /= 2; e += 1 }
    while x < 1 { x *= 2; e -= 1 }
    // ln(x)/ln(2) for x in [1, 2) by the series of atanh.
    let y = (x - 1) / (x + 1)
    var term = y, sum = 0.0, k = 1.0
    for _ in 0..<12 {
        sum += term / k
        term *= y * y
        k += 2
    }
    return e + 2 * sum / 0.6931471805599453
}

/// A shaded interval of a chart: a finding's window, or a wait shorter than `--min-wait`.
public struct ChartWindow: Sendable, Hashable {
    public enum Kind: String, Sendable {
        /// A reported finding's interval (mutual wait, stall): shaded red, labelled.
        case finding
        /// Both sides waited, but for less than `--min-wait`: not a finding; a light grey band
        /// without a label (healthy latency under load looks like this).
        case shortWait = "short-wait"
    }

    public var start: Int64
    /// nil: open until the right edge (unresolved at the end of the trace or of the range).
    public var end: Int64?
    public var label: String
    public var kind: Kind
    /// The finding's number (the one `explain --finding` takes), for finding windows.
    public var finding: Int?
    /// The finding's severity: a point finding's mark is coloured by it.
    public var severity: Severity
    /// A finding window's label without its length (`#2 mutual wait`).
    var name = ""

    public init(start: Int64, end: Int64?, label: String, kind: Kind = .finding, finding: Int? = nil, severity: Severity = .error) {
        self.start = start
        self.end = end
        self.label = label
        self.kind = kind
        self.finding = finding
        self.severity = severity
    }

    var isPoint: Bool { kind == .finding && end == start }

    var color: String {
        switch severity {
        case .error: return "#d62728"
        case .warning: return "#b26a00"
        case .info: return "#5c6b7a"
        }
    }

    /// The finding kinds drawn as windows: the ones that are a hang.
    public static func isHang(_ f: Finding) -> Bool { f.isHang }

    /// A finding's window (`number` as `explain --finding` takes it); `plotEnd` closes an
    /// unresolved window where the plot ends.
    public static func of(_ f: Finding, number: Int) -> ChartWindow {
        let name = f.kind == .mutualWait ? "mutual wait" : f.kind.rawValue
        if f.end == nil && f.resolution == nil || f.end == f.start {
            return ChartWindow(start: f.start, end: f.start, label: "#\(number) \(name)", finding: number, severity: f.severity)
        }
        var label = "#\(number) \(name)"
        if let end = f.end { label += " \(formatDuration(end - f.start))" } else { label += " (unresolved)" }
        var w = ChartWindow(start: f.start, end: f.end, label: label, finding: number, severity: f.severity)
        w.name = "#\(number) \(name)"
        return w
    }

    /// The window labelled for a clock of ordinals (an input without timestamps): its length
    /// in events, not in time (a QEMU log without timestamps read "mutual wait 168.879 µs").
    func relabeled(orderOnly: Bool) -> ChartWindow {
        guard orderOnly, !name.isEmpty, let end, end != start else { return self }
        var w = self
        w.label = "\(name) \(ShadowBellAnalysis.formatSpan(end - start, clock: .orderOnly))"
        return w
    }

    /// The stretches of `samples` where a window was open (both sides waiting) that no finding
    /// window covers: waits that ended before `--min-wait`.
    public static func shortWaits(in samples: [StateSample], outside findings: [ChartWindow]) -> [ChartWindow] {
        var out: [ChartWindow] = []
        func add(_ start: Int64, _ end: Int64?) {
            let covered = findings.contains { f in
                f.kind == .finding && start <= (f.end ?? .max) && (end ?? .max) >= f.start
            }
            if !covered { out.append(ChartWindow(start: start, end: end, label: "short wait (below --min-wait, not a finding)", kind: .shortWait)) }
        }
        var open: Int64?
        for s in samples {
            if s.windowOpen, open == nil { open = s.time }
            if !s.windowOpen, let start = open {
                add(start, s.time)
                open = nil
            }
        }
        if let start = open { add(start, nil) }
        return out
    }
}

/// Keeps the texts of a chart apart: each is put at the first of its candidate positions whose
/// box overlaps no box placed before, or left out. Boxes are estimated from the character count
/// (the font is the viewer's sans-serif), with a margin.
struct LabelPlacer {
    enum Anchor: String { case start, middle, end }

    struct Box {
        var x0, x1, y0, y1: Double
        func overlaps(_ o: Box) -> Bool { x0 < o.x1 && o.x0 < x1 && y0 < o.y1 && o.y0 < y1 }
    }

    /// The boxes placed, by the columns of `column` pixels they reach into: a chart of a few
    /// thousand events places as many texts, each checked only against its neighbours'.
    private var columns: [[Box]] = []
    static let column = 32.0
    /// Texts stay inside these x coordinates.
    var left = 0.0, right = Double.infinity
    /// The placed texts, as SVG.
    var svg = ""

    /// The box of `text` drawn at baseline `y` with `anchor` at `x`.
    static func box(x: Double, y: Double, text: String, anchor: Anchor, size: Double, bold: Bool) -> Box {
        // ASCII (the most of them) counted without breaking the text into characters.
        let characters = text.utf8.allSatisfy { $0 < 0x80 } ? text.utf8.count : text.count
        let w = Double(characters) * size * (bold ? 0.68 : 0.62) + 2
        let x0: Double
        switch anchor {
        case .start: x0 = x - 1
        case .middle: x0 = x - w / 2
        case .end: x0 = x - w + 1
        }
        return Box(x0: x0, x1: x0 + w, y0: y - size * 0.85, y1: y + size * 0.3)
    }

    /// The columns `b` reaches into (clamped: a box far off the chart shares the edge columns).
    private static func columns(of b: Box) -> ClosedRange<Int> {
        func index(_ x: Double) -> Int { x.isNaN ? 0 : Int(min(max(x / column, 0), 4096)) }
        let low = index(b.x0)
        return low...max(low, index(b.x1))
    }

    /// Whether `b` overlaps a box placed.
    func isTaken(_ b: Box) -> Bool {
        for c in Self.columns(of: b) where c < columns.count {
            if columns[c].contains(where: { $0.overlaps(b) }) { return true }
        }
        return false
    }

    private mutating func add(_ b: Box) {
        let range = Self.columns(of: b)
        if columns.count <= range.upperBound { columns += Array(repeating: [], count: range.upperBound + 1 - columns.count) }
        for c in range { columns[c].append(b) }
    }

    /// Places `text` at the first free y of `ys`; returns the y used, nil when there was no room.
    @discardableResult
    mutating func place(
        _ text: String, x: Double, ys: [Double], anchor: Anchor = .middle, size: Double = 11, bold: Bool = false,
        fill: String = "#333", className: String? = nil
    ) -> Double? {
        for y in ys {
            let b = Self.box(x: x, y: y, text: text, anchor: anchor, size: size, bold: bold)
            if b.x0 < left || b.x1 > right || isTaken(b) { continue }
            add(b)
            svg += "<text\(className.map { " class=\"\($0)\"" } ?? "") x=\"\(n(x))\" y=\"\(n(y))\" text-anchor=\"\(anchor.rawValue)\" fill=\"\(fill)\""
            svg += (size != 11 ? " font-size=\"\(n(size))\"" : "") + (bold ? " font-weight=\"bold\"" : "") + ">\(esc(text))</text>\n"
            return y
        }
        return nil
    }

    /// Whether `text` would fit at (`x`, `y`).
    func fits(_ text: String, x: Double, y: Double, anchor: Anchor = .middle, size: Double = 11, bold: Bool = false) -> Bool {
        let b = Self.box(x: x, y: y, text: text, anchor: anchor, size: size, bold: bold)
        return !isTaken(b)
    }

    /// Keeps texts off `b` (a mark drawn whatever the texts), even where a text is already.
    mutating func block(_ b: Box) { add(b) }

    /// Reserves a box no text may overlap (a badge's disc).
    mutating func reserve(_ b: Box) -> Bool {
        if isTaken(b) { return false }
        add(b)
        return true
    }
}

/// One queue's timeline as an inline SVG: a value panel with step plots of P (driver-published),
/// S (controller-seen), the controller's EventIdx and the EventIdx the driver read; a driver lane
/// and a controller lane with a mark per event; MMIO doorbells as arrows from driver to
/// controller; the controller's waiting periods; findings' windows shaded red and labelled,
/// short waits below `--min-wait` in light grey; numbered evidence badges; a legend. No two
/// texts overlap: a label without room is left out (the mark keeps its tooltip).
public struct TimelineChart {
    public var samples: [StateSample]
    public var windows: [ChartWindow]
    /// Evidence to badge: location → number shown.
    public var badges: [SourceLocation: Int] = [:]
    /// Times are ordinals, not nanoseconds.
    public var orderOnly = false
    /// Samples left out after the sample at index `after` (`count` nil: an unknown number).
    public var omissions: [(after: Int, count: Int?)] = []
    public var width: Double = 1100
    /// Where the plot ends when it should reach past the last sample (an unresolved window
    /// lasting until the end of the trace).
    public var plotEnd: Int64?
    /// Where relative times count from: the finding a chart is drawn for (nil: the first
    /// finding window drawn, or the first sample). A chart of one finding draws the queue's
    /// other hangs too, and its labels counted from whichever came first.
    public var origin: Int64?

    public init(samples: [StateSample], windows: [ChartWindow]) {
        self.samples = samples
        self.windows = windows
    }

    // Layout (px).
    static let marginLeft = 120.0, marginRight = 40.0
    static let valueTop = 32.0, valueBottom = 172.0
    static let driverY = 212.0, controllerY = 286.0
    static let axisY = 328.0, legendY = 398.0
    /// The chart's height: below the legend's last row, 18 px.
    public var height: Double { Self.height(legendRows: legendItems.rows) }
    static func height(legendRows: Int) -> Double { legendY + Double(legendRows - 1) * legendRow + 18 }
    static let legendRow = 16.0
    static let windowLabelRows = [13.0, 26.0]
    static func axisRow(_ k: Int) -> Double { axisY + 16 + Double(k) * 13 }

    public var axis: EventAxis {
        var times = samples.map(\.time)
        // An unresolved window goes on to the end of the trace: give that stretch its room.
        if let last = times.last, let end = plotEnd, end > last { times.append(end) }
        return EventAxis(times: times, left: Self.marginLeft + 14, right: width - Self.marginRight)
    }

    var findingWindows: [ChartWindow] { windows.filter { $0.kind == .finding } }

    /// Where relative labels count from (`origin`).
    var relativeOrigin: Int64 { origin ?? findingWindows.first?.start ?? samples.first?.time ?? 0 }

    public func render(id: String, title: String) -> String {
        var svg = ""
        write(id: id, title: title) { svg += $0 }
        return svg
    }

    /// `render(id:title:)` handed to `out` a part at a time (a chart of hundreds of windows
    /// is tens of megabytes). `position`: attributes placing the chart in an enclosing SVG.
    public func write(id: String, title: String, position: String = "", to out: (String) -> Void) {
        let axis = self.axis
        var placer = LabelPlacer()
        placer.right = width
        // Texts are placed in order of importance; shapes are drawn below all texts.
        let frame = self.frame(&placer)
        let values = valuePanel(axis, &placer)
        let key = legendItems
        let legend = self.legend(key.items, &placer)
        let height = Self.height(legendRows: key.rows)
        windowEdgeLabels(axis, &placer)
        windowTitles(axis, &placer)
        omissionNotes(axis, &placer)
        let badges = self.badgeMarks(axis, &placer)
        var svg = "<svg \(position)xmlns=\"http://www.w3.org/2000/svg\" id=\"\(id)\" class=\"timeline\" width=\"\(n(width))\" height=\"\(n(height))\" "
        svg += "viewBox=\"0 0 \(n(width)) \(n(height))\" role=\"img\" aria-label=\"\(esc(title))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        svg += "<title>\(esc(title))</title>\n"
        out(svg + frame)
        out(shadedWindows(axis))
        out(waiting(axis))
        out(values)
        // The events' marks are written as they are drawn; their labels after, above them.
        lanes(axis, &placer, to: out)
        out(timeTicks(axis, &placer))
        out(legend)
        out(badges)
        out("<g class=\"labels\">\n" + placer.svg + "</g>\n</svg>\n")
    }

    // MARK: parts

    func frame(_ placer: inout LabelPlacer) -> String {
        let l = Self.marginLeft, r = width - Self.marginRight
        var s = "<g class=\"frame\">\n"
        s += "<rect x=\"\(n(l))\" y=\"\(n(Self.valueTop))\" width=\"\(n(r - l))\" height=\"\(n(Self.valueBottom - Self.valueTop))\" fill=\"#fbfbfd\" stroke=\"#ccd\"/>\n"
        for (y, label) in [(Self.driverY, "driver"), (Self.controllerY, "controller")] {
            s += "<rect x=\"\(n(l))\" y=\"\(n(y - 22))\" width=\"\(n(r - l))\" height=\"44\" fill=\"#f6f7f9\" stroke=\"#dde\"/>\n"
            placer.place(label, x: l - 8, ys: [y + 4], anchor: .end, bold: true)
        }
        placer.place("value", x: l - 8, ys: [Self.valueTop - 4], anchor: .end, bold: true)
        placer.place("time", x: l - 8, ys: [Self.axisY + 4], anchor: .end, fill: "#555")
        s += "</g>\n"
        return s
    }

    func shadedWindows(_ axis: EventAxis) -> String {
        var s = "<g class=\"windows\">\n"
        // Short waits first: a finding's window is drawn over them.
        for w in windows.sorted(by: { ($0.kind == .finding ? 1 : 0) < ($1.kind == .finding ? 1 : 0) }) {
            let x0 = axis.x(atOrAfter: w.start)
            let x1 = w.end.map { axis.x(atOrAfter: $0) } ?? axis.right
            let attrs = "data-start-ns=\"\(w.start)\" data-end-ns=\"\(w.end.map(String.init) ?? "")\" x=\"\(n(x0))\""
            switch w.kind {
            case .shortWait:
                s += "<rect class=\"short-wait\" \(attrs) y=\"\(n(Self.valueTop))\" width=\"\(n(max(1, x1 - x0)))\" "
                s += "height=\"\(n(Self.controllerY + 22 - Self.valueTop))\" fill=\"#8a8a99\" fill-opacity=\"0.10\"><title>\(esc(w.label))</title></rect>\n"
            case .finding where w.isPoint:
                s += "<line class=\"finding-mark\" data-start-ns=\"\(w.start)\"\(w.finding.map { " data-finding=\"\($0)\"" } ?? "") "
                s += "x1=\"\(n(x0))\" x2=\"\(n(x0))\" y1=\"\(n(Self.valueTop - 4))\" y2=\"\(n(Self.controllerY + 22))\" stroke=\"\(w.color)\" stroke-width=\"2\" stroke-dasharray=\"3 2\">"
                s += "<title>\(esc(w.label))</title></line>\n"
            case .finding:
                s += "<rect class=\"window\" \(attrs)\(w.finding.map { " data-finding=\"\($0)\"" } ?? "") y=\"\(n(Self.valueTop - 4))\" "
                s += "width=\"\(n(max(2, x1 - x0)))\" height=\"\(n(Self.controllerY + 26 - Self.valueTop))\" fill=\"\(w.color)\" fill-opacity=\"0.13\" stroke=\"\(w.color)\" stroke-width=\"1.5\" stroke-dasharray=\"5 3\">"
                s += "<title>\(esc(w.label))</title></rect>\n"
                if w.end == nil {
                    s += "<path d=\"M\(n(axis.right - 10)) \(n(Self.valueTop + 60)) l10 6 l-10 6\" fill=\"none\" stroke=\"#b22\" stroke-width=\"2\"/>\n"
                }
            }
        }
        s += "</g>\n"
        return s
    }

    func windowTitles(_ axis: EventAxis, _ placer: inout LabelPlacer) {
        for w in findingWindows {
            let x0 = axis.x(atOrAfter: w.start)
            // An info or warning finding's window in its own colour: red is for errors (a
            // healthy run's cq-eventidx-not-seen read as a hang).
            let fill = w.isPoint || w.severity != .error ? w.color : "#b22"
            if placer.place(w.label, x: x0 + 3, ys: Self.windowLabelRows, anchor: .start, bold: true, fill: fill, className: "window-label") != nil {
                continue
            }
            // A window near the chart's right edge: its label ends at the window's end (or the
            // edge) rather than not drawn (sysrq-hang's console alone lost #2's).
            let x1 = min(w.end.map { axis.x(atOrAfter: $0) } ?? axis.right, axis.right)
            placer.place(w.label, x: x1 - 3, ys: Self.windowLabelRows, anchor: .end, bold: true, fill: fill, className: "window-label")
        }
    }

    /// A band under the controller lane where the controller waits for a doorbell.
    func waiting(_ axis: EventAxis) -> String {
        var s = "<g class=\"waiting\">\n"
        var start: Double?
        let y = Self.controllerY + 16
        func band(_ x0: Double, _ x1: Double) {
            s += "<rect x=\"\(n(x0))\" y=\"\(n(y))\" width=\"\(n(max(1, x1 - x0)))\" height=\"5\" fill=\"#999\"><title>controller waiting for a doorbell</title></rect>\n"
        }
        for (i, sample) in samples.enumerated() {
            if sample.controllerWaiting, start == nil { start = axis.xs[i] }
            if !sample.controllerWaiting, let x0 = start {
                band(x0, axis.xs[i])
                start = nil
            }
        }
        if let x0 = start { band(x0, axis.right) }
        s += "</g>\n"
        return s
    }

    struct Series: Sendable {
        var name: String
        var color: String
        var dash: String?
        var width: Double
        var value: @Sendable (StateSample) -> UInt32?
    }

    static let series: [Series] = [
        Series(name: "P driver-published", color: "#1f6fd1", dash: nil, width: 2.5, value: { $0.published }),
        Series(name: "S controller-seen", color: "#e07b00", dash: nil, width: 2.5, value: { $0.controllerSeen }),
        Series(name: "EventIdx (controller wrote)", color: "#2a9d3a", dash: "6 3", width: 1.8, value: { $0.controllerEventIdx }),
        Series(name: "EventIdx (driver read)", color: "#8e44ad", dash: "2 3", width: 1.8, value: { $0.driverEventIdxRead }),
        // The slot the reset-ordering bug leaves at 0 while the tail moves on: need_event(0,
        // N+1, N) is false, so the driver never rings.
        Series(name: "EventIdx slot not written since the config (the driver's 0)", color: "#2a9d3a", dash: "1 4", width: 2.2,
               value: { $0.eventIdxUnwrittenSinceConfig && $0.controllerEventIdx == nil ? 0 : nil }),
    ]

    func valuePanel(_ axis: EventAxis, _ placer: inout LabelPlacer) -> String {
        let values = samples.flatMap { s in Self.series.compactMap { $0.value(s) } }
        var s = "<g class=\"values\">\n"
        guard let lo = values.min(), let hi = values.max() else {
            placer.place("no doorbell values in this range", x: Self.marginLeft + 10, ys: [(Self.valueTop + Self.valueBottom) / 2], anchor: .start, fill: "#777")
            return s + "</g>\n"
        }
        let top = Self.valueTop + 14, bottom = Self.valueBottom - 10
        let span = Double(max(1, hi - lo))
        func y(_ v: UInt32) -> Double { bottom - (Double(v - lo) / span) * (bottom - top) }
        // Value gridlines: at most 7 labels, the lowest and the highest value among them (the
        // top one was up to a step below the plotted values).
        let step = max(1, (hi - lo + 5) / 6)
        var gridValues: [UInt32] = []
        var v = lo
        while v < hi {
            gridValues.append(v)
            if hi - v <= step { break }
            v += step
        }
        if let last = gridValues.last, gridValues.count > 1, hi - last < step / 2 { gridValues.removeLast() }
        gridValues.append(hi)
        for v in gridValues {
            s += "<line x1=\"\(n(Self.marginLeft))\" x2=\"\(n(width - Self.marginRight))\" y1=\"\(n(y(v)))\" y2=\"\(n(y(v)))\" stroke=\"#e4e4ee\"/>\n"
            placer.place(String(v), x: Self.marginLeft - 6, ys: [y(v) + 4], anchor: .end, fill: "#555", className: "value-tick")
        }
        for (k, series) in Self.series.enumerated() {
            var d = SVGBytes(capacity: samples.count * 16)
            var last: (x: Double, v: UInt32)?
            for (i, sample) in samples.enumerated() {
                let x = axis.xs[i]
                guard let value = series.value(sample) else {
                    // The value held until this event forgot it (a reset, a deletion).
                    if last != nil { d.add(" H"); d.num(x) }
                    last = nil
                    continue
                }
                // Lines of equal value would hide each other: shift each series by a pixel.
                let yv = y(value) + Double(k) * 1.5 - 2
                if let l = last {
                    d.add(" H"); d.num(x)
                    if l.v != value { d.add(" V"); d.num(yv) }
                } else {
                    d.add(" M"); d.num(x); d.add(" "); d.num(yv)
                }
                last = (x, value)
            }
            if last != nil { d.add(" H"); d.num(axis.right) }
            if !d.bytes.isEmpty {
                s += "<path class=\"series\" data-series=\"\(esc(series.name))\" d=\"\(String(decoding: d.bytes.dropFirst(), as: UTF8.self))\" fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"\(n(series.width))\"\(series.dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>\n"
            }
        }
        s += "</g>\n"
        return s
    }

    enum Swatch { case line(String, String?), arrow, bar, finding, point, shortWait, guest, abort, badge, submitted, completed, shadowWrite, shadowRead, eventIdxWrite }

    /// The key to every kind of mark the chart draws (and to none it does not), each with the
    /// place it takes under the axis: its left edge and its row.
    var legendItems: (items: [(swatch: Swatch, text: String, x: Double, row: Int)], rows: Int) {
        // What is drawn, in one pass over the samples.
        var kinds: Set<EventKind> = []
        var seriesDrawn = [Bool](repeating: false, count: Self.series.count)
        var plainSubmit = false, abort = false, waiting = false
        for sample in samples {
            kinds.insert(sample.event.kind)
            if sample.event.isDriverAbort { abort = true } else if sample.event.kind == .driverSubmit { plainSubmit = true }
            if sample.controllerWaiting { waiting = true }
            for (k, series) in Self.series.enumerated() where !seriesDrawn[k] && series.value(sample) != nil { seriesDrawn[k] = true }
        }
        func drawn(_ any: [EventKind]) -> Bool { any.contains(where: kinds.contains) }
        // (A CQ's P without driver probes is its head inferred from the completions the guest handled.)
        let inferredP = samples.contains { $0.publishedInferred }
        var items: [(Swatch, String)] = Self.series.indices.filter { seriesDrawn[$0] }.map {
            (.line(Self.series[$0].color, Self.series[$0].dash), $0 == 0 && inferredP ? "P driver's head (inferred)" : Self.series[$0].name)
        }
        if drawn([.mmioDoorbell]) { items.append((.arrow, "MMIO doorbell")) }
        if drawn([.driverDoorbellUpdate]) { items.append((.shadowWrite, "driver wrote the shadow doorbell (P=n)")) }
        if plainSubmit || drawn([.controllerFetch, .controllerCompletion]) {
            items.append((.submitted, "command submitted, fetched or completed by the controller"))
        }
        if drawn([.driverComplete, .driverSQHead]) { items.append((.completed, "completion seen by the driver")) }
        if drawn([.controllerShadowRead]) { items.append((.shadowRead, "controller read the shadow doorbell (read n)")) }
        if drawn([.controllerEventIdxWrite]) { items.append((.eventIdxWrite, "controller wrote EventIdx (EI=n)")) }
        if waiting { items.append((.bar, "controller waiting")) }
        if windows.contains(where: { $0.kind == .finding && !$0.isPoint }) { items.append((.finding, "finding window (#n = explain --finding n)")) }
        if windows.contains(where: \.isPoint) { items.append((.point, "finding at one instant")) }
        if windows.contains(where: { $0.kind == .shortWait }) {
            items.append((.shortWait, "short wait: both sides waited less than --min-wait (not a finding)"))
        }
        if drawn([.guestMessage]) { items.append((.guest, "guest kernel message (timeout: abort / reset)")) }
        if abort { items.append((.abort, "the driver's ABORT of a command (it gave up waiting)")) }
        if !badges.isEmpty { items.append((.badge, "evidence (numbered as listed)")) }
        var placed: [(swatch: Swatch, text: String, x: Double, row: Int)] = []
        var x = Self.marginLeft, row = 0
        for (swatch, text) in items {
            let textWidth = LabelPlacer.box(x: 0, y: 0, text: text, anchor: .start, size: 11, bold: false).x1
            if x > Self.marginLeft, x + 26 + textWidth > width - 8 {
                x = Self.marginLeft
                row += 1
            }
            placed.append((swatch, text, x, row))
            x += 26 + textWidth + 14
        }
        return (placed, row + 1)
    }

    /// The key to every mark, under the axis (`legendItems`).
    func legend(_ items: [(swatch: Swatch, text: String, x: Double, row: Int)], _ placer: inout LabelPlacer) -> String {
        var s = "<g class=\"legend\">\n"
        for (swatch, text, x, row) in items {
            let y = Self.legendY + Double(row) * Self.legendRow
            let kind: String
            switch swatch {
            case .line(let color, let dash):
                kind = "series"
                s += "<line x1=\"\(n(x))\" x2=\"\(n(x + 20))\" y1=\"\(n(y - 4))\" y2=\"\(n(y - 4))\" stroke=\"\(color)\" stroke-width=\"2.5\"\(dash.map { " stroke-dasharray=\"\($0)\"" } ?? "")/>"
            case .arrow:
                kind = "mmio"
                s += "<path d=\"M\(n(x + 10)) \(n(y - 11)) v6 M\(n(x + 6)) \(n(y - 5)) l4 5 l4 -5z\" stroke=\"#a01010\" stroke-width=\"2\" fill=\"#a01010\"/>"
            case .bar:
                kind = "waiting"
                s += "<rect x=\"\(n(x))\" y=\"\(n(y - 7))\" width=\"20\" height=\"5\" fill=\"#999\"/>"
            case .finding:
                kind = "finding"
                s += "<rect x=\"\(n(x))\" y=\"\(n(y - 11))\" width=\"20\" height=\"12\" fill=\"#d62728\" fill-opacity=\"0.13\" stroke=\"#d62728\" stroke-dasharray=\"5 3\"/>"
            case .guest:
                kind = "guest"
                s += "<path d=\"M\(n(x + 10)) \(n(y - 13)) l5 9 l-5 9 l-5 -9z\" fill=\"#c62828\"/>"
            case .abort:
                kind = "abort"
                s += "<path d=\"M\(n(x + 6)) \(n(y - 8)) l8 8 M\(n(x + 14)) \(n(y - 8)) l-8 8\" stroke=\"#c62828\" stroke-width=\"2.5\"/>"
            case .point:
                kind = "finding-mark"
                s += "<line x1=\"\(n(x + 10))\" x2=\"\(n(x + 10))\" y1=\"\(n(y - 12))\" y2=\"\(n(y + 2))\" stroke=\"#5c6b7a\" stroke-width=\"2\" stroke-dasharray=\"3 2\"/>"
            case .shortWait:
                kind = "short-wait"
                s += "<rect x=\"\(n(x))\" y=\"\(n(y - 11))\" width=\"20\" height=\"12\" fill=\"#8a8a99\" fill-opacity=\"0.10\"/>"
            case .badge:
                kind = "badge"
                s += "<circle cx=\"\(n(x + 10))\" cy=\"\(n(y - 4))\" r=\"6\" fill=\"#222\"/>"
            case .submitted:
                kind = "submitted"
                s += "<circle cx=\"\(n(x + 10))\" cy=\"\(n(y - 4))\" r=\"3\" fill=\"#555\"/>"
            case .completed:
                kind = "completed"
                s += "<circle cx=\"\(n(x + 10))\" cy=\"\(n(y - 4))\" r=\"3\" fill=\"none\" stroke=\"#555\"/>"
            case .shadowWrite:
                kind = "shadow-write"
                s += "<path d=\"M\(n(x + 10)) \(n(y - 10)) l6 11 h-12z\" fill=\"#1f6fd1\"/>"
            case .shadowRead:
                kind = "shadow-read"
                s += "<rect x=\"\(n(x + 6))\" y=\"\(n(y - 8))\" width=\"8\" height=\"8\" fill=\"#e07b00\"/>"
            case .eventIdxWrite:
                kind = "eventidx-write"
                s += "<path d=\"M\(n(x + 10)) \(n(y - 10)) l5 6 l-5 6 l-5 -6z\" fill=\"#2a9d3a\"/>"
            }
            s += "<!-- \(kind) -->\n"
            placer.place(text, x: x + 26, ys: [y], anchor: .start, fill: "#333", className: "legend-\(kind)")
        }
        s += "</g>\n"
        return s
    }

    func badgeMarks(_ axis: EventAxis, _ placer: inout LabelPlacer) -> String {
        var s = ""
        for (i, sample) in samples.enumerated() {
            let e = sample.event
            guard let badge = badges[SourceLocation(source: e.source, unit: .line, value: e.location)]
                ?? badges[SourceLocation(source: e.source, unit: .byteOffset, value: e.location)]
            else { continue }
            let x = axis.xs[i]
            let base = e.kind.side == .driver ? Self.driverY + 20 : Self.controllerY - 32
            let step = e.kind.side == .driver ? 16.0 : -16.0
            for by in [base, base + step, base + 2 * step] {
                guard placer.reserve(LabelPlacer.Box(x0: x - 8, x1: x + 8, y0: by - 8, y1: by + 8)) else { continue }
                s += "<g class=\"badge\" data-evidence=\"\(badge)\"><circle cx=\"\(n(x))\" cy=\"\(n(by))\" r=\"7.5\" fill=\"#222\"/>"
                s += "<text x=\"\(n(x))\" y=\"\(n(by + 4))\" text-anchor=\"middle\" fill=\"#fff\" font-size=\"10\" font-weight=\"bold\">\(badge)</text></g>\n"
                break
            }
        }
        return s
    }

    /// Where an MMIO doorbell's arrow is drawn at `x`: its shaft from the driver lane to the
    /// controller lane, and its head.
    static func arrowShaft(at x: Double) -> LabelPlacer.Box {
        LabelPlacer.Box(x0: x - 1.5, x1: x + 1.5, y0: driverY - 10, y1: controllerY - 12)
    }
    static func arrowHead(at x: Double) -> LabelPlacer.Box {
        LabelPlacer.Box(x0: x - 5, x1: x + 5, y0: controllerY - 18, y1: controllerY - 8)
    }

    /// The events' marks, handed to `out` about a megabyte at a time.
    func lanes(_ axis: EventAxis, _ placer: inout LabelPlacer, to out: (String) -> Void) {
        var s = SVGBytes(capacity: min(samples.count * 320, SVGBytes.piece + 4096))
        s.add("<g class=\"events\">\n")
        // Every MMIO arrow first: a label placed beside one doorbell must not cover the next
        // one's arrow (dense doorbells drew their numbers over each other's arrows).
        for (i, sample) in samples.enumerated() where sample.event.kind == .mmioDoorbell {
            placer.block(Self.arrowShaft(at: axis.xs[i]))
            placer.block(Self.arrowHead(at: axis.xs[i]))
        }
        for (i, sample) in samples.enumerated() {
            s.drain(past: SVGBytes.piece, to: out)
            let e = sample.event
            let x = axis.xs[i]
            let side = e.kind.side
            let y = side == .driver ? Self.driverY : Self.controllerY
            var label = ""
            s.add("<g class=\"event\" data-time-ns=\"")
            s.int(e.time)
            s.add("\" data-location=\"")
            s.uint(UInt64(e.source))
            s.add(":")
            s.uint(e.location)
            s.add("\" data-x=\"")
            s.num(x)
            s.add("\">")
            defer { s.add("</g>\n") }
            switch e.kind {
            case .mmioDoorbell:
                s.add("<g class=\"mmio\" data-time-ns=\"")
                s.int(e.time)
                s.add("\">")
                tooltip(&s, e)
                s.add("<line x1=\""); s.num(x); s.add("\" y1=\""); s.num(Self.driverY - 10)
                s.add("\" x2=\""); s.num(x); s.add("\" y2=\""); s.num(Self.controllerY - 12)
                s.add("\" stroke=\"#a01010\" stroke-width=\"2.5\"/>")
                s.add("<path d=\"M"); s.num(x - 5); s.add(" "); s.num(Self.controllerY - 18)
                s.add(" L"); s.num(x); s.add(" "); s.num(Self.controllerY - 8)
                s.add(" L"); s.num(x + 5); s.add(" "); s.num(Self.controllerY - 18)
                s.add("z\" fill=\"#a01010\"/></g>")
                let mid = (Self.driverY + Self.controllerY) / 2
                if placer.place("MMIO \(e.a)", x: x + 4, ys: [mid + 4, mid - 9, mid + 17], anchor: .start, bold: true, fill: "#a01010") == nil {
                    placer.place("MMIO \(e.a)", x: x - 4, ys: [mid + 4, mid - 9, mid + 17], anchor: .end, bold: true, fill: "#a01010")
                }
                continue
            case .driverDoorbellUpdate:
                s.add("<path class=\"mark\" d=\"M"); s.num(x); s.add(" "); s.num(y - 8)
                s.add(" l6 11 h-12z\" fill=\"#1f6fd1\">"); tooltip(&s, e); s.add("</path>")
                label = "P=\(e.b)" + (e.rangMMIO ? "" : " no MMIO")
            case .driverSubmit where e.isDriverAbort:
                // The driver's ABORT of one of this queue's commands (an admin command): a
                // cross without a label (they come in bursts; the legend and tooltip say it).
                abortMark(&s, x, y + 9, e)
            case .driverSubmit:
                circle(&s, x, y + 9, fill: "#555", e)
            case .driverComplete, .driverSQHead:
                circle(&s, x, y + 9, fill: "none\" stroke=\"#555", e)
            case .guestMessage:
                s.add("<path class=\"mark\" d=\"M"); s.num(x); s.add(" "); s.num(y - 9)
                s.add(" l5 9 l-5 9 l-5 -9z\" fill=\"#c62828\">"); tooltip(&s, e); s.add("</path>")
                label = GuestMessageKind(rawValue: e.a).map(Self.guestMessageLabel) ?? "guest"
            case .controllerShadowRead:
                s.add("<rect class=\"mark\" x=\""); s.num(x - 4); s.add("\" y=\""); s.num(y - 6)
                s.add("\" width=\"8\" height=\"8\" fill=\"#e07b00\">"); tooltip(&s, e); s.add("</rect>")
                label = "read \(e.a)"
            case .controllerEventIdxWrite:
                s.add("<path class=\"mark\" d=\"M"); s.num(x); s.add(" "); s.num(y - 8)
                s.add(" l5 6 l-5 6 l-5 -6z\" fill=\"#2a9d3a\">"); tooltip(&s, e); s.add("</path>")
                label = "EI=\(e.a)"
            case .controllerFetch, .controllerCompletion:
                circle(&s, x, y + 9, fill: "#555", e)
            default:
                s.add("<line class=\"mark\" x1=\""); s.num(x); s.add("\" x2=\""); s.num(x)
                s.add("\" y1=\""); s.num(Self.valueTop); s.add("\" y2=\""); s.num(Self.controllerY + 22)
                s.add("\" stroke=\"#444\" stroke-dasharray=\"2 2\">"); tooltip(&s, e); s.add("</line>")
                label = shortName(e)
            }
            if !label.isEmpty {
                placer.place(label, x: x, ys: side == .driver ? [y - 11] : [y - 10, y + 32])
            }
        }
        s.add("</g>\n")
        s.drain(past: 0, to: out)
    }

    /// A guest kernel message's label: what the driver did about the timeout, where it says.
    static func guestMessageLabel(_ kind: GuestMessageKind) -> String {
        switch kind {
        case .timeoutAborting: return "timeout: abort"
        case .timeoutReset: return "timeout: reset"
        case .timeoutPolled: return "timeout: polled"
        case .timeoutDisable: return "timeout: disable"
        case .abortStatus: return "abort status"
        case .queuesReady: return "queues ready"
        }
    }

    /// The driver's ABORT of a command: a cross at (`x`, `y`) with its tooltip.
    private func abortMark(_ s: inout SVGBytes, _ x: Double, _ y: Double, _ e: Event) {
        s.add("<path class=\"mark abort\" d=\"M"); s.num(x - 4); s.add(" "); s.num(y - 4)
        s.add(" l8 8 M"); s.num(x + 4); s.add(" "); s.num(y - 4)
        s.add(" l-8 8\" stroke=\"#c62828\" stroke-width=\"2.5\">")
        tooltip(&s, e)
        s.add("</path>")
    }

    /// An event's round mark at (`x`, `y`) with its tooltip.
    private func circle(_ s: inout SVGBytes, _ x: Double, _ y: Double, fill: StaticString, _ e: Event) {
        s.add("<circle class=\"mark\" cx=\""); s.num(x); s.add("\" cy=\""); s.num(y)
        s.add("\" r=\"3\" fill=\""); s.add(fill); s.add("\">")
        tooltip(&s, e)
        s.add("</circle>")
    }

    /// An event mark's tooltip: `<title>` with the event's time and description.
    private func tooltip(_ s: inout SVGBytes, _ e: Event) {
        s.add("<title>")
        s.escaped(formatTime(e.time))
        s.add("  ")
        s.escaped(describe(e))
        s.add("</title>")
    }

    func omissionNotes(_ axis: EventAxis, _ placer: inout LabelPlacer) {
        for o in omissions where !samples.isEmpty {
            let k = min(o.after, samples.count - 1)
            let x = k + 1 < samples.count ? (axis.xs[k] + axis.xs[k + 1]) / 2 : axis.xs[k]
            let text = o.count.map { "… \($0) events left out …" } ?? "… events left out …"
            placer.place(text, x: x, ys: [Self.controllerY + 36, Self.driverY + 36, Self.valueBottom - 4], fill: "#777", className: "omitted")
        }
    }

    func shortName(_ e: Event) -> String {
        switch e.kind {
        case .queueCreate: return "created"
        case .queueDelete: return "deleted"
        case .controllerReset: return "reset"
        case .dbbufConfig: return "dbbuf config"
        case .dataLoss: return "LOST EVENTS"
        default: return ""
        }
    }

    /// The time labels of the findings' windows: where each opens and closes, each time with
    /// its caption under it (or the time alone when there is no room for both).
    func windowEdgeLabels(_ axis: EventAxis, _ placer: inout LabelPlacer) {
        let rows = (0..<4).map(Self.axisRow)
        func pair(_ time: String, _ caption: String, x: Double, anchor: LabelPlacer.Anchor = .middle, fill: String = "#b22") {
            for r in [0, 2]
            where placer.fits(time, x: x, y: rows[r], anchor: anchor) && placer.fits(caption, x: x, y: rows[r + 1], anchor: anchor) {
                placer.place(time, x: x, ys: [rows[r]], anchor: anchor, fill: fill)
                placer.place(caption, x: x, ys: [rows[r + 1]], anchor: anchor, fill: fill)
                return
            }
            placer.place(time, x: x, ys: rows, anchor: anchor, fill: fill)
        }
        for w in findingWindows {
            let point = w.end == w.start
            pair(formatTime(w.start), point ? "finding" : "window opens", x: axis.x(atOrAfter: w.start), fill: point ? w.color : "#b22")
            if let end = w.end, end != w.start {
                pair(formatTime(end), "closes (+\(formatSpan(end - w.start)))", x: axis.x(atOrAfter: end))
            }
        }
        if let end = plotEnd, let last = samples.last?.time, end > last {
            pair(relative(end - relativeOrigin), "end of trace", x: axis.right, anchor: .end, fill: "#777")
        } else if let end = plotEnd, let last = samples.last?.time, end == last {
            // The last event drawn is the trace's last (a give-up's ABORT): its tick says the time.
            placer.place("end of trace", x: axis.right, ys: [rows[1], rows[3]], anchor: .end, fill: "#777")
        }
    }

    /// Ticks at every event; labels where room allows, as the time since the first window
    /// opened. Long gaps are labelled with their length.
    func timeTicks(_ axis: EventAxis, _ placer: inout LabelPlacer) -> String {
        var s = "<g class=\"axis\">\n"
        let y = Self.axisY
        s += "<line x1=\"\(n(Self.marginLeft))\" x2=\"\(n(width - Self.marginRight))\" y1=\"\(n(y))\" y2=\"\(n(y))\" stroke=\"#333\"/>\n"
        let origin = relativeOrigin
        var ticks = SVGBytes(capacity: samples.count * 64)
        for x in axis.xs.prefix(samples.count) {
            ticks.add("<line x1=\""); ticks.num(x); ticks.add("\" x2=\""); ticks.num(x)
            ticks.add("\" y1=\""); ticks.num(y - 3); ticks.add("\" y2=\""); ticks.num(y + 3)
            ticks.add("\" stroke=\"#333\"/>")
        }
        ticks.add("\n")
        s += ticks.string
        // Long gaps: where nothing happened on this queue for a while.
        for i in 1..<max(1, axis.times.count) {
            let gap = axis.times[i] - axis.times[i - 1]
            if gap >= 10_000_000 {
                placer.place("⟵ \(formatSpan(gap)) ⟶", x: (axis.xs[i] + axis.xs[i - 1]) / 2, ys: [y - 6], fill: "#777", className: "gap")
            }
        }
        for (i, sample) in samples.enumerated() {
            placer.place(relative(sample.time - origin), x: axis.xs[i], ys: [Self.axisRow(0)])
        }
        s += "</g>\n"
        return s
    }

    func formatTime(_ t: Int64) -> String { orderOnly ? "#\(t)" : formatSeconds(t) }
    func formatSpan(_ d: Int64) -> String { ShadowBellAnalysis.formatSpan(d, clock: orderOnly ? .orderOnly : .timestamps) }
    func relative(_ d: Int64) -> String {
        if d == 0 { return "0" }
        return (d > 0 ? "+" : "−") + formatSpan(d < 0 ? -d : d)
    }
}

/// A number for SVG (`SVGBytes.num`): at most two decimals, no exponent, no trailing zeros.
func n(_ v: Double) -> String {
    var b = SVGBytes()
    b.num(v)
    return b.string
}

/// Text and attribute escaping for HTML and SVG.
func esc(_ s: String) -> String { JUnitReport.xml(s) }

/// SVG markup built as UTF-8 bytes: the parts of a chart written once per event (a chart holds
/// up to a few thousand) without a String made for every piece of every element.
struct SVGBytes {
    var bytes: [UInt8] = []

    init(capacity: Int = 0) { bytes.reserveCapacity(capacity) }

    /// What a writer that streams hands on at a time.
    static let piece = 1 << 20

    /// Hands the bytes so far to `out` once there are more than `past`, and starts again.
    mutating func drain(past: Int, to out: (String) -> Void) {
        guard bytes.count > past else { return }
        out(string)
        bytes.removeAll(keepingCapacity: true)
    }

    mutating func add(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func add(_ text: String) { bytes.append(contentsOf: text.utf8) }

    /// `text` escaped for HTML and SVG text and attributes (`esc`): `&<>"'` as entities, other
    /// control characters than tab, newline and carriage return as `?`.
    mutating func escaped(_ text: String) {
        for b in text.utf8 {
            switch b {
            case 0x26: add("&amp;")
            case 0x3C: add("&lt;")
            case 0x3E: add("&gt;")
            case 0x22: add("&quot;")
            case 0x27: add("&apos;")
            case 0x0A, 0x09, 0x0D: bytes.append(b)
            case _ where b < 0x20: bytes.append(0x3F)
            default: bytes.append(b)
            }
        }
    }

    /// `v` as `String(v)` writes it.
    mutating func int<T: BinaryInteger>(_ v: T) {
        if v < 0 { bytes.append(0x2D) }
        uint(UInt64(v.magnitude))
    }

    mutating func uint(_ v: UInt64) {
        // At most 20 digits, filled from the end.
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &digits) { d in
            let start = ByteOutput.writeDigits(v, endingAt: d.count, in: d)
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: d[start...]))
        }
    }

    /// A number for SVG: at most two decimals, no exponent, no trailing zeros.
    mutating func num(_ v: Double) {
        let scaled = Int64((v * 100).rounded())
        let whole = scaled / 100, frac = abs(scaled % 100)
        if scaled < 0 && whole == 0 { bytes.append(0x2D) }
        int(whole)
        guard frac != 0 else { return }
        bytes.append(0x2E)
        if frac % 10 == 0 {
            bytes.append(UInt8(frac / 10) + 0x30)
        } else {
            bytes.append(UInt8(frac / 10) + 0x30)
            bytes.append(UInt8(frac % 10) + 0x30)
        }
    }

    var string: String { String(decoding: bytes, as: UTF8.self) }
}

/// `shadowbell timeline --format svg`: one chart per queue, stacked in one SVG document, with
/// the findings' windows shaded and labelled and the short waits below `--min-wait` in grey.
public enum TimelineSVGDocument {
    /// The events of one queue in a time range (`--from`/`--to`).
    public struct QueueSamples: Sendable {
        public var queue: QueueKey
        public var samples: [StateSample]
        /// Samples left out past the limit.
        public var dropped: Int
        /// The windows of the findings on this queue.
        public var windows: [ChartWindow]

        public init(queue: QueueKey, samples: [StateSample], dropped: Int, windows: [ChartWindow] = []) {
            self.queue = queue
            self.samples = samples
            self.dropped = dropped
            self.windows = windows
        }
    }

    /// Charts of the queues' events in a range: every finding window that reaches into it, and
    /// the short waits of the events drawn.
    /// `ranged`: the range was given (`--from`/`--to`), so the title does not advise giving one
    /// for the events left out. `empty`: what a document without a chart says.
    public static func render(
        _ queues: [QueueSamples], note: String? = nil, ranged: Bool = false, empty: String = noEventMatched, orderOnly: Bool = false,
        width: Double = 1100
    ) -> String {
        var s = ""
        write(queues, note: note, ranged: ranged, empty: empty, orderOnly: orderOnly, width: width) { s += $0 }
        return s
    }

    /// `render(_:note:ranged:empty:)` handed to `out` a piece at a time.
    public static func write(
        _ queues: [QueueSamples], note: String? = nil, ranged: Bool = false, empty: String = noEventMatched, orderOnly: Bool = false,
        width: Double = 1100, to out: (String) -> Void
    ) {
        write(charts: queues.map { rangeChart($0, note: note, ranged: ranged) }, empty: empty, orderOnly: orderOnly, width: width, to: out)
    }

    /// What a document without a chart says by default.
    public static let noEventMatched = "no event matched the selected queues and time range"

    /// The chart of one queue's events in a range, with its title.
    public static func rangeChart(_ q: QueueSamples, note: String? = nil, ranged: Bool = false) -> (title: String, view: QueueView) {
        var title = "\(q.queue): \(q.samples.count) event(s)"
        if let note { title += " (\(note))" }
        if q.dropped > 0 {
            title += ranged
                ? ", \(q.dropped) more of the range left out (at most --max-events \(q.samples.count) drawn: raise it or narrow --from/--to)"
                : ", \(q.dropped) more left out (choose a range with --from/--to)"
        }
        let windows = q.windows.filter { w in
            guard let first = q.samples.first?.time, let last = q.samples.last?.time else { return false }
            return w.start <= last && (w.end ?? .max) >= first
        }
        var omissions = QueueView.omissions(in: q.samples)
        if q.dropped > 0, !q.samples.isEmpty { omissions.append((q.samples.count - 1, q.dropped)) }
        return (title, QueueView(
            queue: q.queue, clockInput: 0, samples: q.samples, omissions: omissions,
            windows: ChartWindow.shortWaits(in: q.samples, outside: windows) + windows, plotEnd: nil))
    }

    /// Charts of the given views, each under its title.
    public static func render(
        charts: [(title: String, view: QueueView)], empty: String = noEventMatched, orderOnly: Bool = false, width: Double = 1100
    ) -> String {
        var s = ""
        write(charts: charts, empty: empty, orderOnly: orderOnly, width: width) { s += $0 }
        return s
    }

    /// `render(charts:)` handed to `out` a piece at a time (the document's head, then each chart
    /// as it is drawn): a document of hundreds of charts is never held whole.
    /// `leftOut`: one more line under the charts, saying what was not drawn.
    public static func write(
        charts: [(title: String, view: QueueView)], empty: String = noEventMatched, leftOut: String? = nil, orderOnly: Bool = false,
        width: Double = 1100, to out: (String) -> Void
    ) {
        let header = 28.0, caption = leftOut == nil ? 36.0 : 50.0
        // The document's height is known before any chart is drawn: a chart's height is its
        // legend's rows (the charts share their views' samples; nothing is drawn yet).
        let made = charts.map { ($0.title, $0.view, $0.view.chart(orderOnly: orderOnly, width: width)) }
        let heights = made.map(\.2.height)
        let total = charts.isEmpty ? 60 : heights.reduce(caption) { $0 + $1 + header }
        var s = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        s += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(width))\" height=\"\(n(total))\" viewBox=\"0 0 \(n(width)) \(n(total))\" font-family=\"sans-serif\" font-size=\"11\">\n"
        s += "<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n"
        if charts.isEmpty {
            s += "<text x=\"20\" y=\"30\">\(esc(empty))</text>\n"
        }
        var y = 0.0
        for ((title, view, chart), height) in zip(made, heights) {
            s += "<text x=\"12\" y=\"\(n(y + 18))\" font-size=\"14\" font-weight=\"bold\">\(esc(title))</text>\n"
            out(s)
            s = ""
            // Nested below its title.
            chart.write(
                id: "queue-\(view.queue.controllerName)-\(view.queue.type.name)\(view.queue.qid)", title: title,
                position: "x=\"0\" y=\"\(n(y + header))\" ", to: out)
            y += height + header
        }
        if !charts.isEmpty {
            s += "<text class=\"caption\" x=\"12\" y=\"\(n(y + 14))\" fill=\"#555\">Each queue's events in order: the space between two events grows with the time between them, not to scale (long gaps say their length).</text>\n"
            s += "<text class=\"caption\" x=\"12\" y=\"\(n(y + 28))\" fill=\"#555\">Times under the axis count from the first finding's window (else the first event drawn). Hover a mark for its event.</text>\n"
            if let leftOut { s += "<text class=\"caption\" x=\"12\" y=\"\(n(y + 42))\" fill=\"#a01010\">\(esc(leftOut)).</text>\n" }
        }
        s += "</svg>\n"
        out(s)
    }
}

extension QueueView {
    /// The chart of this view.
    public func chart(orderOnly: Bool = false, width: Double = 1100) -> TimelineChart {
        var chart = TimelineChart(samples: samples, windows: windows.map { $0.relabeled(orderOnly: orderOnly) })
        chart.omissions = omissions
        chart.plotEnd = plotEnd
        chart.orderOnly = orderOnly
        chart.width = width
        return chart
    }

    /// "around finding #2 (mutual wait 30.4 s) and #3 (…)".
    public var findingsText: String { findingsText(orderOnly: false) }

    /// `findingsText` with the windows' lengths in events on a clock of ordinals.
    public func findingsText(orderOnly: Bool) -> String {
        let named = windows.filter { $0.kind == .finding }.map { $0.relabeled(orderOnly: orderOnly).label }
        return named.isEmpty ? "" : "around " + named.joined(separator: ", ")
    }
}

extension String {
    /// Replaces `target` when the string starts with it.
    func replacingFirst(_ target: String, with replacement: String) -> String {
        guard hasPrefix(target) else { return self }
        return replacement + dropFirst(target.count)
    }
}
