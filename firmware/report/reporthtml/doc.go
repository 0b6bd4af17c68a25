// Package reporthtml renders the monthly operation report (package report)
// as one self-contained HTML page, in Japanese or English, with the
// day-by-day availability timeline as inline SVG, for A4.
//
// It lives apart from package report so that shisad never links
// html/template: its reflection makes the linker keep every method of every
// reachable type, about 4 MB on the arm64 binary. shisactl (and the
// datacenter) render the page from the report's JSON.
package reporthtml
