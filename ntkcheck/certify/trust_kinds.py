"""The C2 trust base by step kind, recorded by ntkcheck.certify.files.write_trust_table from the derivations of
the proofs/ source with the digest below (generated: do not edit)."""
import json

TABLE = json.loads(r"""{
 "what": "step kinds of the lemmas C2 uses, from proofs.blueprint(['C2']) (their derivations run)",
 "proofs_sha256": "7f89ba3537b45c6e479fdb6a4e952b3dd8657098939db84fa0e71e02a8910d9f",
 "lemmas": [
  {
   "code": "G1",
   "id": "softmax-gradient",
   "kind": "identity, proved by sympy",
   "uses": [],
   "steps_by_kind": {
    "definition": 3,
    "identity, proved by sympy": 11
   }
  },
  {
   "code": "G2",
   "id": "shift-invariance",
   "kind": "identity, proved by sympy",
   "uses": [
    "G1"
   ],
   "steps_by_kind": {
    "identity, proved by sympy": 17
   }
  },
  {
   "code": "G3",
   "id": "hessian",
   "kind": "identity, proved by sympy",
   "uses": [
    "G1"
   ],
   "steps_by_kind": {
    "definition": 1,
    "identity, proved by sympy": 11
   }
  },
  {
   "code": "G4",
   "id": "ntk-factorization",
   "kind": "verified at concrete sizes",
   "uses": [
    "G1",
    "G2"
   ],
   "steps_by_kind": {
    "definition": 1,
    "identity, proved by sympy": 9,
    "verified at concrete sizes": 1,
    "inequality, proved symbolically": 1
   }
  },
  {
   "code": "B2",
   "id": "softmax-ratio",
   "kind": "by hand",
   "uses": [],
   "steps_by_kind": {
    "definition": 2,
    "by hand": 2,
    "identity, proved by sympy": 4,
    "inequality, proved symbolically": 3,
    "inequality, checked numerically": 1
   }
  },
  {
   "code": "B3",
   "id": "ntk-perturbation",
   "kind": "by hand",
   "uses": [
    "G4",
    "B2"
   ],
   "steps_by_kind": {
    "definition": 1,
    "identity, proved by sympy": 6,
    "inequality, proved symbolically": 7,
    "verified at concrete sizes": 1,
    "by hand": 2,
    "inequality, checked numerically": 1
   }
  },
  {
   "code": "B4",
   "id": "hessian-bound",
   "kind": "by hand",
   "uses": [
    "G3"
   ],
   "steps_by_kind": {
    "definition": 1,
    "identity, proved by sympy": 7,
    "inequality, proved symbolically": 5,
    "by hand": 2,
    "inequality, checked numerically": 1
   }
  },
  {
   "code": "B5",
   "id": "one-step-descent",
   "kind": "by hand",
   "uses": [
    "G1",
    "G4",
    "B2",
    "B4"
   ],
   "steps_by_kind": {
    "verified at concrete sizes": 3,
    "definition": 1,
    "by hand": 4,
    "identity, proved by sympy": 3,
    "inequality, proved symbolically": 1,
    "inequality, checked numerically": 1
   }
  },
  {
   "code": "B6",
   "id": "weight-movement",
   "kind": "by hand",
   "uses": [
    "G1",
    "B2"
   ],
   "steps_by_kind": {
    "definition": 1,
    "identity, proved by sympy": 5,
    "inequality, proved symbolically": 4,
    "by hand": 4,
    "inequality, checked numerically": 1
   }
  },
  {
   "code": "T1'",
   "id": "linear-convergence-conditional",
   "kind": "by hand",
   "uses": [
    "G4",
    "B2",
    "B3",
    "B4",
    "B5",
    "B6"
   ],
   "steps_by_kind": {
    "identity, proved by sympy": 18,
    "definition": 5,
    "by hand": 10,
    "inequality, proved symbolically": 5
   }
  }
 ]
}""")
