import AppExchange
import Testing

@testable import HTTPFront

@Suite struct ErrorPageTests {
    static let stack = "Current thread 0x7f (most recent call first):\n  File \"/app/app.py\", line 43 in <spin>"

    @Test func devPageShowsTheTimeoutStackEscaped() {
        let (status, page) = ErrorPage.forFailure(.timeout(seconds: 2, stack: Self.stack), showTracebacks: true)
        #expect(status == 504)
        #expect(page.contains("longer than 2.0 s"))
        #expect(page.contains("File &quot;/app/app.py&quot;, line 43 in &lt;spin&gt;"))
    }

    @Test func productionPageHidesIt() {
        let (status, page) = ErrorPage.forFailure(.timeout(seconds: 2, stack: Self.stack), showTracebacks: false)
        #expect(status == 504)
        #expect(!page.contains("app.py"))
    }
}
