package bench

import (
	"fmt"
	"image/color"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// WriteChart draws the Rust/C cost ratio of each workload with its
// confidence interval as a horizontal error-bar chart, with a line at 1
// (parity), and saves it to path; the extension (.svg or .png) chooses the
// format.
func WriteChart(r *Report, path string) error {
	return WriteCharts([]*Report{r}, path)
}

// WriteCharts draws the ratios of several reports in one chart, one row
// per workload and report, each named with its architecture when the
// reports' architectures differ (rko bench --from a.json --from b.json
// --chart FILE).
func WriteCharts(reports []*Report, path string) error {
	ext := strings.ToLower(filepath.Ext(path))
	if ext != ".svg" && ext != ".png" {
		return fmt.Errorf("chart %s: unknown format %q, want .svg or .png", path, ext)
	}
	var ws []WorkloadResult
	var labels []string
	arches := map[string]bool{}
	for _, r := range reports {
		arches[r.arch()] = true
	}
	for _, r := range reports {
		for _, w := range r.Workloads {
			if w.Error != "" {
				continue
			}
			ws = append(ws, w)
			label := w.Name
			if len(arches) > 1 {
				label += " " + r.arch()
			}
			labels = append(labels, label)
		}
	}
	if len(ws) == 0 {
		return fmt.Errorf("chart %s: no workloads", path)
	}
	p := plot.New()
	p.Title.Text = "Rust/C cost ratio (above 1: Rust slower), 95 % CI"
	if reports[0].count() == CountInstructions {
		p.Title.Text = "Rust/C instructions per operation (above 1: Rust slower), 95 % CI"
	}
	p.X.Label.Text = "Rust/C cost"
	n := len(ws)
	pts := make(plotter.XYs, n)
	errs := make(plotter.XErrors, n)
	names := make([]string, n)
	lo, hi := 1.0, 1.0
	for i, w := range ws {
		y := float64(n - 1 - i) // first workload on top
		pts[i] = plotter.XY{X: w.Ratio, Y: y}
		errs[i] = struct{ Low, High float64 }{w.CILow - w.Ratio, w.CIHigh - w.Ratio}
		names[n-1-i] = labels[i]
		if len(reports) == 1 {
			names[n-1-i] = fmt.Sprintf("%s (%s)", w.Name, w.Unit)
		}
		lo, hi = min(lo, w.CILow), max(hi, w.CIHigh)
	}
	pad := max(0.02, (hi-lo)*0.15)
	p.X.Min, p.X.Max = lo-pad, hi+pad
	p.Y.Min, p.Y.Max = -0.7, float64(n)-0.3
	parity, err := plotter.NewLine(plotter.XYs{{X: 1, Y: p.Y.Min}, {X: 1, Y: p.Y.Max}})
	if err != nil {
		return err
	}
	parity.Color = color.Gray{Y: 120}
	parity.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	data := struct {
		plotter.XYs
		plotter.XErrors
	}{pts, errs}
	bars, err := plotter.NewXErrorBars(data)
	if err != nil {
		return err
	}
	bars.LineStyle.Width = vg.Points(1.5)
	bars.CapWidth = vg.Points(8)
	dots, err := plotter.NewScatter(pts)
	if err != nil {
		return err
	}
	dots.GlyphStyle.Shape = draw.CircleGlyph{}
	dots.GlyphStyle.Radius = vg.Points(3.5)
	dots.GlyphStyle.Color = color.RGBA{R: 0xb7, G: 0x41, B: 0x0e, A: 0xff}
	p.Add(plotter.NewGrid(), parity, bars, dots)
	p.NominalY(names...)
	height := vg.Length(60+45*n) * vg.Points(1)
	return p.Save(16*vg.Centimeter, height, path)
}
