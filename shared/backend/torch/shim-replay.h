// Replay of a captured training step (./replay.ts): the sequence of `lwi_call`s one step made, built once into a
// program and run again in one FFI call per step, without tfjs's per-kernel dispatch.
//
// Included by shim.cpp inside its anonymous namespace, after the op table and the exchange area: an instruction
// restores the ints/floats/ptrs its call saw and calls the same table function `lwi_call` calls, so a replayed
// step runs the same ATen calls with the same arguments in the same order, and its results are bit-identical.
//
// Slots: every tensor of the step is a slot. Input slots are the caller's tensors (the batch, the variables' current
// values): instructions read the caller's `at::Tensor` objects themselves, as `lwi_call` would (a conv may convert
// a filter's storage to OHWI in place, see shim-layout.h), and a replay never frees them. Constants are tensors the
// step made from JS values (a learning rate, a loss weight), owned by the program. Every other slot is freed right
// after its last use, so a replayed step holds fewer intermediates at once than tfjs, which frees at the end of its
// tidy scope.
//
// The program arrives from JS as one int32 stream (layout in `build_program`) and one float64 stream.

struct Instr {
  int32_t op;
  int32_t in[3];  // slot, or -1 for none
  int32_t out;
  std::vector<int32_t> extras;  // slots of further results (lwi_extra), in order
  std::vector<int32_t> ints;    // the call's g_ints prefix
  std::vector<double> floats;   // the call's g_floats prefix
  std::vector<int32_t> ptrs;    // the call's g_ptrs prefix, as slots (-1 = null)
  std::vector<int32_t> frees;   // slots released after this instruction
};

struct Program {
  int32_t n_slots = 0;
  std::vector<int32_t> inputs;   // slot of each input handle, in the order lwi_replay receives them
  std::vector<int32_t> outputs;  // slot of each output handle lwi_replay returns
  std::vector<std::pair<int32_t, Tensor>> consts;
  std::vector<Instr> code;
  // Input slots whose last reader is instruction k: released there when donated (see run_program).
  std::vector<std::vector<int32_t>> inputs_done_at;
  std::vector<char> is_input;
  // Per-run storage, kept between runs so a replay allocates nothing for bookkeeping.
  std::vector<Tensor> store;
  std::vector<Tensor*> ref;
};

// Stream layout: n_slots, n_inputs, n_outputs, n_consts, n_instr; input slots; output slots; const slots (the
// tensor of const i is consts[i]); then per instruction: op, a, b, c, out, n_extra, extras..., n_ints, ints...,
// n_floats (taken in order from the float stream), n_ptrs, ptr slots..., n_free, free slots...
Program* build_program(const int32_t* s, int32_t n, const double* f, int32_t nf, const std::vector<Tensor*>& consts) {
  int32_t at = 0;
  const auto next = [&]() -> int32_t {
    if (at >= n) throw std::runtime_error("replay program: stream ends early");
    return s[at++];
  };
  int32_t fat = 0;
  auto p = std::make_unique<Program>();
  p->n_slots = next();
  const int32_t n_inputs = next(), n_outputs = next(), n_consts = next(), n_instr = next();
  const auto slot = [&]() -> int32_t {
    const int32_t k = next();
    if (k < -1 || k >= p->n_slots) throw std::runtime_error("replay program: slot out of range");
    return k;
  };
  for (int32_t i = 0; i < n_inputs; ++i) p->inputs.push_back(slot());
  for (int32_t i = 0; i < n_outputs; ++i) p->outputs.push_back(slot());
  if (static_cast<size_t>(n_consts) != consts.size()) throw std::runtime_error("replay program: wrong number of constants");
  for (int32_t i = 0; i < n_consts; ++i) p->consts.emplace_back(slot(), *consts[i]);
  const auto& table = ops();
  for (int32_t i = 0; i < n_instr; ++i) {
    Instr ins;
    ins.op = next();
    if (ins.op < 0 || static_cast<size_t>(ins.op) >= table.size()) throw std::runtime_error("replay program: unknown op");
    for (int k = 0; k < 3; ++k) ins.in[k] = slot();
    ins.out = slot();
    for (int32_t k = next(); k > 0; --k) ins.extras.push_back(slot());
    const int32_t n_ints = next();
    if (n_ints < 0 || n_ints > 4096 || at + n_ints > n) throw std::runtime_error("replay program: bad int count");
    ins.ints.assign(s + at, s + at + n_ints);
    at += n_ints;
    const int32_t n_floats = next();
    if (n_floats < 0 || n_floats > 64 || fat + n_floats > nf) throw std::runtime_error("replay program: bad float count");
    ins.floats.assign(f + fat, f + fat + n_floats);
    fat += n_floats;
    const int32_t n_ptrs = next();
    if (n_ptrs < 0 || n_ptrs > 4096) throw std::runtime_error("replay program: bad ptr count");
    for (int32_t k = 0; k < n_ptrs; ++k) ins.ptrs.push_back(slot());
    for (int32_t k = next(); k > 0; --k) ins.frees.push_back(slot());
    p->code.push_back(std::move(ins));
  }
  if (at != n || fat != nf) throw std::runtime_error("replay program: trailing data");
  p->is_input.assign(p->n_slots, 0);
  for (int32_t k : p->inputs) p->is_input[k] = 1;
  std::vector<int32_t> last(p->n_slots, -1);
  for (size_t i = 0; i < p->code.size(); ++i) {
    for (int32_t k : p->code[i].in) if (k >= 0) last[k] = static_cast<int32_t>(i);
    for (int32_t k : p->code[i].ptrs) if (k >= 0) last[k] = static_cast<int32_t>(i);
  }
  p->inputs_done_at.resize(p->code.size());
  for (int32_t k : p->inputs) if (last[k] >= 0) p->inputs_done_at[last[k]].push_back(k);
  p->store.resize(p->n_slots);
  p->ref.resize(p->n_slots);
  return p.release();
}

// Runs `p` on the input tensors `in` (as many as p->inputs) and writes a handle per output to `out`.
//
// Donation: on entry out[j] may hold i + 1, offering input i's tensor object for output j (a variable's value that
// only the variable holds, and output j its new value). The input's tensor is then released right after its last
// reader — as tfjs frees a weight's old value at its `assign` — instead of living until the end beside every new
// value, and output j is stored into that same object: out[j] is the input's handle. An error after a release
// leaves that input undefined (the error says so). Otherwise out[j] is a new handle.
void run_program(Program& p, Tensor* const* in, double* out) {
  std::vector<int32_t> donor(p.outputs.size(), -1);
  std::vector<char> donated(p.n_slots, 0);
  for (size_t j = 0; j < p.outputs.size(); ++j) {
    const int64_t i = static_cast<int64_t>(out[j]) - 1;
    if (i < 0 || i >= static_cast<int64_t>(p.inputs.size()) || p.is_input[p.outputs[j]]) continue;
    const int32_t slot = p.inputs[i];
    if (donated[slot] || std::find(p.outputs.begin(), p.outputs.end(), slot) != p.outputs.end()) continue;
    donated[slot] = 1;
    donor[j] = static_cast<int32_t>(i);
  }
  bool released = false;
  for (int32_t k = 0; k < p.n_slots; ++k) p.ref[k] = &p.store[k];
  for (size_t i = 0; i < p.inputs.size(); ++i) p.ref[p.inputs[i]] = in[i];
  for (const auto& [k, t] : p.consts) p.store[k] = t;
  const auto& table = ops();
  const auto at_slot = [&](int32_t k) -> Tensor* { return k < 0 ? nullptr : p.ref[k]; };
  // On an error the intermediates held so far are released (the inputs belong to the caller).
  struct Clear {
    Program& p;
    ~Clear() {
      for (auto& t : p.store) t = Tensor();
    }
  } clear{p};
  // The recording kept each area's prefix up to its last non-zero value, on an area zeroed when recording began:
  // the rest was zero when the call ran (a kernel may have written those zeros as arguments), so it is zero here.
  std::memset(g_ints, 0, sizeof g_ints);
  std::memset(g_floats, 0, sizeof g_floats);
  std::memset(g_ptrs, 0, sizeof g_ptrs);
  size_t n_ints = 0, n_floats = 0, n_ptrs = 0;
  const auto restore = [](auto* area, const auto& values, size_t& used) {
    std::memcpy(area, values.data(), values.size() * sizeof(values[0]));
    if (values.size() < used) std::memset(area + values.size(), 0, (used - values.size()) * sizeof(area[0]));
    used = values.size();
  };
  for (const Instr& ins : p.code) {
    restore(g_ints, ins.ints, n_ints);
    restore(g_floats, ins.floats, n_floats);
    for (size_t k = 0; k < ins.ptrs.size(); ++k) {
      g_ptrs[k] = static_cast<double>(reinterpret_cast<uintptr_t>(at_slot(ins.ptrs[k])));
    }
    if (ins.ptrs.size() < n_ptrs) std::memset(g_ptrs + ins.ptrs.size(), 0, (n_ptrs - ins.ptrs.size()) * sizeof(double));
    n_ptrs = ins.ptrs.size();
    Tensor* args[3] = {at_slot(ins.in[0]), at_slot(ins.in[1]), at_slot(ins.in[2])};
    g_extra.clear();
    try {
      p.store[ins.out] = to_tfjs_dtype(table[ins.op].fn(args, g_ints, g_floats));
    } catch (const std::exception& e) {
      const char* what = e.what();
      if (const auto* c = dynamic_cast<const c10::Error*>(&e)) what = c->what_without_backtrace();
      throw std::runtime_error(std::string(table[ins.op].name) + ": " + what +
                               (released ? " (variables donated to this replay were already released)" : ""));
    }
    for (size_t k = 0; k < ins.extras.size(); ++k) {
      if (k >= g_extra.size()) throw std::runtime_error(std::string(table[ins.op].name) + ": fewer results than recorded");
      p.store[ins.extras[k]] = to_tfjs_dtype(std::move(g_extra[k]));
    }
    g_extra.clear();
    for (int32_t k : ins.frees) p.store[k] = Tensor();
    for (int32_t k : p.inputs_done_at[&ins - p.code.data()]) {
      if (donated[k]) *p.ref[k] = Tensor(), released = true;
    }
  }
  for (size_t j = 0; j < p.outputs.size(); ++j) {
    if (donor[j] < 0) {
      out[j] = static_cast<double>(reinterpret_cast<uintptr_t>(box(*p.ref[p.outputs[j]])));
    } else {
      *in[donor[j]] = *p.ref[p.outputs[j]];
      out[j] = static_cast<double>(reinterpret_cast<uintptr_t>(in[donor[j]]));
    }
  }
}
