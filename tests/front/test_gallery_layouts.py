"""Gallery layouts: the grid places products by APA (rows) and plot type (columns); operators
pick a layout, experts save one; bad input is a 400 that changes nothing."""

import pytest

from p3s.front import layouts
from p3s.front.models import GalleryLayout

from .gallerykit import add_bokeh_products

pytestmark = pytest.mark.django_db

RMS = "png/vis/ADC RMS plane x"
SPECTRUM = "bokeh/vis/RMS per channel (interactive)"


def world_of(dqm_world):
    world = dqm_world(files=1)
    add_bokeh_products(world, 3)
    return world


@pytest.mark.parametrize(
    "title, family",
    [
        ("APA 3 noise RMS per plane", "noise RMS per plane"),
        ("ADC RMS APA12 plane x", "ADC RMS plane x"),
        ("APA 1 plane u: channel noise", "plane u: channel noise"),
        ("CRT strip occupancy", "CRT strip occupancy"),
    ],
)
def test_the_family_is_the_title_without_its_apa(title, family):
    assert layouts.family_of(title) == family


def test_the_all_layout_has_a_column_per_plot_type_and_a_row_per_apa(dqm_world):
    world = world_of(dqm_world)
    g = layouts.grid(5001, None)
    assert g.rows == ["1", "2", "3"]
    assert RMS in g.columns and SPECTRUM in g.columns
    assert "bokeh/vis/Noise spectrum" in g.columns  # the world's own APA-1 bokeh product
    rms = dict(g.table())
    assert rms["1"][g.columns.index(RMS)].title == "ADC RMS APA1 plane x"
    assert rms["3"][g.columns.index(RMS)] is None  # the world has RMS plots of APA 1 and 2 only
    assert rms["3"][g.columns.index(SPECTRUM)].labels["apa"] == "3"
    assert len(g.products) == len({p.pk for p in g.products}) == 2 + 3 + 1
    assert world.products


def test_a_layout_picks_and_orders_columns_and_rows_with_any_stage(dqm_world):
    world_of(dqm_world)
    lay = GalleryLayout(
        name="mine",
        columns=["bokeh/*/RMS per channel (interactive)", RMS, "png/*/nothing"],
        apas=["2", "1"],
    )
    g = layouts.grid(5001, lay)
    assert g.rows == ["2", "1"]
    assert [[p.title if p else None for p in cells] for _, cells in g.table()] == [
        ["APA 2 RMS per channel (interactive)", "ADC RMS APA2 plane x", None],
        ["APA 1 RMS per channel (interactive)", "ADC RMS APA1 plane x", None],
    ]
    assert g.missing == ["png/*/nothing"]


def test_operators_get_the_shifter_layout_and_experts_every_plot_type(
    dqm_world, operator, expert, client_of
):
    world_of(dqm_world)
    assert not GalleryLayout.objects.exists()  # the built-in shifter layout serves
    op = client_of(operator()).get("/products/grid/")
    assert op.status_code == 200 and op.context["layout_name"] == "shifter"
    assert b"Save a layout" not in op.content
    ex = client_of(expert()).get("/products/grid/")
    assert ex.context["layout_name"] == "all" and b"Save a layout" in ex.content
    assert op.context["layout"].columns == list(layouts.SHIFTER_COLUMNS)
    picked = client_of(operator("olga2")).get("/products/grid/?layout=all&run=5001")
    assert picked.context["grid"].columns == layouts.grid(5001, None).columns


def test_an_unknown_layout_or_run_warns_and_shows_everything(dqm_world, operator, client_of):
    world_of(dqm_world)
    c = client_of(operator())
    resp = c.get("/products/grid/?layout=nope&run=x")
    assert resp.status_code == 200 and resp.context["layout_name"] == "all"
    assert resp.context["run"] == 5001
    text = resp.content.decode()
    assert "there is no layout" in text and "run must be a number" in text


def test_an_expert_saves_a_layout_and_replaces_it(dqm_world, expert, csrf_client_of):
    world_of(dqm_world)
    c = csrf_client_of(expert())
    c.get("/products/grid/")
    token = c.cookies["csrftoken"].value
    form = {
        "csrfmiddlewaretoken": token,
        "name": "noise",
        "audience": "expert",
        "description": "noise first",
        "column": [SPECTRUM, RMS],
        "apas": "1, 2",
        "run": "5001",
    }
    resp = c.post("/products/grid/save/", form)
    assert resp.status_code == 302 and "layout=noise" in resp["Location"]
    lay = GalleryLayout.objects.get(name="noise")
    assert (lay.columns, lay.apas, lay.audience) == ([SPECTRUM, RMS], ["1", "2"], "expert")
    assert lay.updated_by == "user:eddie"
    resp = c.post("/products/grid/save/", {**form, "column": [RMS], "apas": ""})
    assert resp.status_code == 302
    lay.refresh_from_db()
    assert (lay.columns, lay.apas) == ([RMS], [])
    assert GalleryLayout.objects.filter(name="noise").count() == 1


@pytest.mark.parametrize(
    "change, field",
    [
        ({"column": []}, "columns"),
        ({"column": ["movie/vis/x"]}, "columns"),
        ({"column": ["no slashes"]}, "columns"),
        ({"column": [RMS, RMS]}, "columns"),
        ({"name": "has spaces"}, "name"),
        ({"name": ""}, "name"),
        ({"audience": "boss"}, "audience"),
        ({"apas": "1 two"}, "apas"),
    ],
)
def test_a_bad_layout_is_a_400_and_changes_nothing(dqm_world, expert, client_of, change, field):
    world_of(dqm_world)
    before = list(GalleryLayout.objects.values_list("name", "columns", "apas", "audience"))
    form = {"name": "mine", "audience": "shifter", "column": [RMS], "apas": "", **change}
    resp = client_of(expert()).post("/products/grid/save/", form)
    assert resp.status_code == 400
    assert f"{field}:" in resp.content.decode()
    assert list(GalleryLayout.objects.values_list("name", "columns", "apas", "audience")) == before


def test_operators_and_strangers_cannot_save_a_layout(
    dqm_world, operator, nobody, client_of, client
):
    world_of(dqm_world)
    form = {"name": "mine", "audience": "shifter", "column": [RMS]}
    assert client_of(operator()).post("/products/grid/save/", form).status_code == 403
    assert client_of(nobody()).post("/products/grid/save/", form).status_code == 403
    assert client.post("/products/grid/save/", form).status_code == 302  # to the login page
    assert client_of(operator("o2")).get("/products/grid/save/").status_code == 405
    assert not GalleryLayout.objects.filter(name="mine").exists()


def test_the_admin_refuses_a_bad_layout(dqm_world, expert, client_of):
    c = client_of(expert())
    resp = c.post(
        "/admin/front/gallerylayout/add/",
        {"name": "adm", "audience": "shifter", "columns": '["nope"]', "apas": "[]"},
    )
    assert (
        resp.status_code == 200 and "is not &#x27;kind/stage/family&#x27;" in resp.content.decode()
    )
    assert not GalleryLayout.objects.filter(name="adm").exists()
    resp = c.post(
        "/admin/front/gallerylayout/add/",
        {"name": "adm", "audience": "shifter", "columns": f'["{RMS}"]', "apas": '["1"]'},
    )
    assert resp.status_code == 302
    assert GalleryLayout.objects.get(name="adm").updated_by == "user:eddie"


def test_a_saved_shifter_layout_replaces_the_built_in_one(dqm_world, operator, client_of):
    world_of(dqm_world)
    GalleryLayout.objects.create(name="shifter", audience="shifter", columns=[RMS])
    resp = client_of(operator()).get("/products/grid/")
    assert resp.context["grid"].columns == [RMS]
    assert [lay.name for lay in resp.context["layouts"]] == ["shifter"]


def test_the_grid_makes_as_many_queries_for_many_products_as_for_few(
    dqm_world, operator, client_of
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    world = world_of(dqm_world)
    c = client_of(operator())
    c.get("/products/grid/?layout=all")  # warm the session and caches

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert c.get("/products/grid/?layout=all&run=5001").status_code == 200
        return len(ctx.captured_queries)

    few = count()
    add_bokeh_products(world, 30)
    assert count() == few
