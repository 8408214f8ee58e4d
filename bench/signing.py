"""The signing engine against raw pyHanko, in the same run.

For PAdES-B-B, B-T, B-LTA and CAdES-B-T, on a one-page and a ~10 MB PDF, with
RSA-2048 and P-256 keys: the engine (signing.pades / signing.cades) beside a
minimal, best-configured use of pyHanko doing the same signature: the same
cached-key signer, a fixed reserved size (no dry run), the same in-process
TSA. Engine and baseline alternate round by round, so drift hits both alike.
Also `openssl speed` for the raw cryptography, and the peak memory of one
signature (tracemalloc) relative to the document's size.

    python -m bench.signing       (or `make bench`, with the other benchmarks)
"""

import os
import re
import statistics
import subprocess
import tempfile
import time
import tracemalloc
import zlib
from io import BytesIO
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko_certvalidator import ValidationContext

from signing.cades import sign_cades
from signing.engine_thread import run_sync
from signing.keys import FileKeyStore, KeyAlgorithm
from signing.pades import sign_pdf
from signing.pki import CertificateAuthority, Profile, Subject
from signing.signers import to_asn1
from signing.tsa import TimeStampAuthority

ROUNDS = {"1 page": 60, "10 MB": 16}
# What the baseline reserves: the smallest round figure that fits each level
# (see signing.pades for the measured sizes).
BASELINE_RESERVED = {"B-B": 8192, "B-T": 12288, "B-LTA": 12288}


def document(kind: str) -> bytes:
    writer = PdfFileWriter()
    font = writer.add_object(
        generic.DictionaryObject(
            {
                pdf_name("/Type"): pdf_name("/Font"),
                pdf_name("/Subtype"): pdf_name("/Type1"),
                pdf_name("/BaseFont"): pdf_name("/Helvetica"),
            }
        )
    )
    pages = 1 if kind == "1 page" else 4
    side = 0 if kind == "1 page" else int((10 * 2**20 / pages / 3) ** 0.5)
    for number in range(pages):
        resources = generic.DictionaryObject(
            {pdf_name("/Font"): generic.DictionaryObject({pdf_name("/F1"): font})}
        )
        content = b"BT /F1 14 Tf 72 770 Td (Contratto, pagina %d) Tj ET" % (number + 1)
        if side:
            image = generic.StreamObject(
                {
                    pdf_name("/Type"): pdf_name("/XObject"),
                    pdf_name("/Subtype"): pdf_name("/Image"),
                    pdf_name("/Width"): generic.NumberObject(side),
                    pdf_name("/Height"): generic.NumberObject(side),
                    pdf_name("/ColorSpace"): pdf_name("/DeviceRGB"),
                    pdf_name("/BitsPerComponent"): generic.NumberObject(8),
                    pdf_name("/Filter"): pdf_name("/FlateDecode"),
                },
                encoded_data=zlib.compress(os.urandom(side * side * 3), 1),  # a "scan"
            )
            resources[pdf_name("/XObject")] = generic.DictionaryObject(
                {pdf_name("/Im0"): writer.add_object(image)}
            )
            content += b" q 450 0 0 600 72 100 cm /Im0 Do Q"
        stream = generic.StreamObject(stream_data=content)
        writer.insert_page(
            PageObject(
                contents=writer.add_object(stream),
                media_box=(0, 0, 595.28, 841.89),
                resources=resources,
            )
        )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


class Setup:
    def __init__(self, directory: Path):
        self.keystore = FileKeyStore(os.urandom(32))
        self.ca = CertificateAuthority.open_or_create(
            directory=directory, keystore=self.keystore, base_url="http://127.0.0.1:9"
        )
        self.timestamper = TimeStampAuthority(
            *self.ca.service(Profile.TSA), chain=self.ca.chain
        ).timestamper()
        self.signers = {}
        for algorithm in (KeyAlgorithm.RSA2048, KeyAlgorithm.P256):
            owner = f"bench:{algorithm}"
            issued = self.ca.issue(
                profile=Profile.ADVANCED,
                subject=Subject(common_name="Bench Signer"),
                owner=owner,
                algorithm=algorithm,
            )
            self.signers[algorithm] = self.ca.signer(issued, issued.key_reference, owner=owner)
        self.crls = [self.ca.crl([]), self.ca.root_crl()]

    def context(self) -> ValidationContext:
        return ValidationContext(
            trust_roots=[to_asn1(self.ca.root)],
            other_certs=[to_asn1(self.ca.issuing)],
            crls=self.crls,
            allow_fetching=False,
            revocation_mode="require",
        )


def engine_operation(setup: Setup, operation: str, signer, data: bytes):
    if operation == "CAdES-B-T":
        return lambda: sign_cades(data, signer=signer, level="B-T", timestamper=setup.timestamper)
    level = operation.removeprefix("PAdES-")
    return lambda: sign_pdf(
        data,
        signer=signer,
        field_name="Firma1",
        level=level,
        timestamper=setup.timestamper if level != "B-B" else None,
        validation_context=setup.context() if level == "B-LTA" else None,
    )


def baseline_operation(setup: Setup, operation: str, signer, data: bytes):
    """pyHanko alone, configured as well as its documentation allows, run as
    the engine runs: on the signing thread and its event loop, kept for the
    whole run (signing/engine_thread.py)."""
    if operation == "CAdES-B-T":

        def cades():
            return run_sync(
                signer.async_sign_general_data(
                    data, "sha256", detached=False, use_cades=True, timestamper=setup.timestamper
                )
            ).dump()

        return cades
    level = operation.removeprefix("PAdES-")

    def pades():
        lta = level == "B-LTA"
        meta = signers.PdfSignatureMetadata(
            field_name="Firma1",
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            embed_validation_info=lta,
            use_pades_lta=lta,
            validation_context=setup.context() if lta else None,
        )
        pdf_signer = signers.PdfSigner(
            meta, signer, timestamper=setup.timestamper if level != "B-B" else None
        )
        buffer = BytesIO(data)
        run_sync(
            pdf_signer.async_sign_pdf(
                IncrementalPdfFileWriter(buffer),
                bytes_reserved=BASELINE_RESERVED[level],
                in_place=True,
            )
        )
        return buffer.getvalue()

    return pades


def alternate(engine, baseline, rounds: int) -> tuple[float, float]:
    """Medians (ms) of engine and baseline, measured in alternating rounds."""
    for _ in range(max(2, rounds // 10)):
        engine()
        baseline()
    samples_engine, samples_baseline = [], []
    for index in range(rounds):
        pair = ((engine, samples_engine), (baseline, samples_baseline))
        for fn, samples in pair if index % 2 == 0 else reversed(pair):
            start = time.perf_counter()
            fn()
            samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples_engine), statistics.median(samples_baseline)


def peak_bytes(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def openssl_speed() -> dict[str, float]:
    result = subprocess.run(
        ["openssl", "speed", "-seconds", "1", "rsa2048", "ecdsap256"],
        capture_output=True,
        text=True,
        check=False,
    )
    figures = {}
    rsa = re.search(r"^rsa\s+2048 bits\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)", result.stdout, re.M)
    ec = re.search(
        r"^\s*256 bits ecdsa \(nistp256\)\s+[\d.]+s\s+[\d.]+s\s+([\d.]+)", result.stdout, re.M
    )
    if rsa:
        figures["RSA-2048"] = float(rsa.group(1))
    if ec:
        figures["P-256"] = float(ec.group(1))
    return figures


OPERATIONS = ("PAdES-B-B", "PAdES-B-T", "PAdES-B-LTA", "CAdES-B-T")
KEYS = {"RSA-2048": KeyAlgorithm.RSA2048, "P-256": KeyAlgorithm.P256}


def run() -> list[dict]:
    print("\nSigning engine against raw pyHanko (same signer, TSA and reserved size)")
    rows = []
    with tempfile.TemporaryDirectory(prefix="sigillo-bench-pki-") as directory:
        setup = Setup(Path(directory))
        documents = {kind: document(kind) for kind in ROUNDS}
        print(
            f"{'operation':<12} {'document':<9} {'key':<9} {'engine':>9} {'pyHanko':>9}"
            f" {'ratio':>6} {'peak/doc':>9}"
        )
        for kind, data in documents.items():
            for key_name, algorithm in KEYS.items():
                signer = setup.signers[algorithm]
                for operation in OPERATIONS:
                    engine = engine_operation(setup, operation, signer, data)
                    baseline = baseline_operation(setup, operation, signer, data)
                    engine_ms, baseline_ms = alternate(engine, baseline, ROUNDS[kind])
                    peak = peak_bytes(engine)
                    row = {
                        "operation": operation,
                        "document": kind,
                        "size": len(data),
                        "key": key_name,
                        "engine_ms": engine_ms,
                        "baseline_ms": baseline_ms,
                        "ratio": engine_ms / baseline_ms,
                        "peak": peak,
                        "peak_ratio": peak / len(data),
                        "baseline_peak_ratio": peak_bytes(baseline) / len(data),
                    }
                    rows.append(row)
                    print(
                        f"{operation:<12} {kind:<9} {key_name:<9} {engine_ms:7.1f}ms"
                        f" {baseline_ms:7.1f}ms {row['ratio']:5.2f}x"
                        f" {row['peak_ratio']:8.2f}x"
                        + (
                            f"  (pyHanko {row['baseline_peak_ratio']:.2f}x)"
                            if kind != "1 page"
                            else ""
                        )
                    )
    speed = openssl_speed()
    if speed:
        print(
            "openssl speed: "
            + ", ".join(f"{name} {rate:,.0f} signs/s" for name, rate in speed.items())
        )
    worst = max(rows, key=lambda r: r["ratio"])
    print(
        f"worst ratio {worst['ratio']:.2f}x ({worst['operation']}, {worst['document']},"
        f" {worst['key']}); peak memory on the 10 MB document at most"
        f" {max(r['peak_ratio'] for r in rows if r['document'] == '10 MB'):.2f}x its size"
    )
    return rows


if __name__ == "__main__":
    run()
