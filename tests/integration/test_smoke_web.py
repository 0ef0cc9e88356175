"""First end-to-end check of the web app on both databases."""

from conftest import add_user, csrf_token, login


async def test_admin_logs_in_and_sees_the_admin_page(client):
    await add_user(client, "boss", "admin")
    response = await login(client, "boss")
    assert response.status == 303, await response.text()
    token = await csrf_token(client)
    page = await client.get("/admin")
    assert page.status == 200
    text = await page.text()
    assert "昆明12345政府热线" in text and "五华区" in text
    assert token
