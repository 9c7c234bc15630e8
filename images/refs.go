package images

// referencer is implemented by ops that read other stored images besides
// their input (watermark images), so that whoever runs a pipeline can check
// and grant those reads before it runs.
type referencer interface {
	refs() []string
}

// Refs returns the other images the step reads ("bucket:key" or a URL, as
// written in the fop); nil for steps that read only their input and for
// UFOP steps.
func (s Step) Refs() []string {
	if r, ok := s.op.(referencer); ok {
		return r.refs()
	}
	return nil
}

// Refs returns every other image the pipeline's steps read, each once, in
// order of first use.
func (p Pipeline) Refs() []string {
	var out []string
	seen := map[string]bool{}
	for _, s := range p.Steps {
		for _, r := range s.Refs() {
			if !seen[r] {
				seen[r] = true
				out = append(out, r)
			}
		}
	}
	return out
}

func (o *watermarkOp) refs() []string {
	var out []string
	for _, m := range o.marks {
		if m.kind == markImage {
			out = append(out, m.ref)
		}
	}
	return out
}
